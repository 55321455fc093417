"""Fun with Theano: symbolic differentiation by training an auto-encoder.

The helper package behind the notebooks, on PyTensor (Theano's maintained
successor). Import the modules you need; importing ``helpers`` alone loads
nothing heavy, so :mod:`helpers.portable` works where PyTensor is absent.

Modules
-------
data       load MNIST (built in), IDX, .npy and .npz data; binarize; split
params     seeded initial parameter arrays
model      the tied sigmoid auto-encoder and its costs as PyTensor graphs
training   gradients, compiled SGD steps, the minibatch training loop
steps      many SGD steps per call on data the library holds (fit's path)
backends   picks the compiler (JAX, Numba, C); aligned data; compile caches
checkpoint checkpoints and resuming
variants   cost variants: weight decay, sparsity, denoising
sparse     the auto-encoder on SciPy sparse (CSR) input
gradcheck  finite-difference gradients, NumPy only
speed      NumPy training baseline, samples-per-second timer, compute bound
portable   the JSON model format, read and written with NumPy only
figures    loss curves, filter tiles, reconstructions
notebook   the notebooks' setup cell and figure paths
cli        ``python -m helpers train`` and ``python -m helpers encode``
"""

__version__ = "0.1.0"
