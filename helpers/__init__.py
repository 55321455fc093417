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
portable   the JSON model format, read and written with NumPy only
figures    loss curves, filter tiles, reconstructions
cli        ``python -m helpers train``
"""

__version__ = "0.1.0"
