#!/usr/bin/env node
// Reader of fun-with-theano-autoencoder model files, in plain JavaScript.
//
// No npm packages: Node.js 18 or newer runs it as it is. It follows the
// rules of helpers/model-format.md in the same order as helpers/portable.py
// and gives the same messages, so both readers accept and refuse the same
// files.
//
// Command line (output is JSON on stdout; errors go to stderr as
// "error: <file>: <problem>" with exit status 2; usage errors exit with 1):
//
//   node read_model.mjs MODEL                  summary of a valid model
//   node read_model.mjs MODEL INPUT [--encode] [--prepare]
//        INPUT is a JSON file holding an array of rows (arrays of n_visible
//        numbers), or "-" for standard input. Prints
//        {"output": "reconstruction" | "hidden", "shape": [n, k], "data": [...]}
//        where data holds n rows of k numbers. --encode gives the hidden codes
//        h instead of the reconstructions x_hat; --prepare treats the rows as
//        raw values and applies the model's input section first.
//   node read_model.mjs --check MODEL...       validate files; one JSON line
//        {"file": ..., "ok": true} or {"file": ..., "ok": false, "error": ...}
//        per file; exit status 2 if any file is invalid.
//
// As a module: import { loadModel, parseModel, prepare, encode, reconstruct }.

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

export const FORMAT_NAME = "fun-with-theano-autoencoder";
export const FORMAT_VERSION = 1;
export const PARAMETER_NAMES = ["W", "b_h", "b_v"];
export const DTYPES = ["float32", "float64"];
export const COSTS = ["cross_entropy", "squared_error"];
export const CONVENTIONS = ["per_example", "per_element"];
export const MAX_DEPTH = 64;
const SECTIONS = ["model", "input", "training", "parameters"];

export class ModelFileError extends Error {
  constructor(message) {
    super(message);
    this.name = "ModelFileError";
  }
}

export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = "InputError";
  }
}

// ---------------------------------------------------------------------------
// Small JSON helpers

const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isNumber = (v) => typeof v === "number";
const isInteger = (v) => Number.isInteger(v);

function jsonType(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v; // "boolean", "number", "string", "object"
}

// JSON with ", " and ": " separators, as Python's json.dumps writes it, so
// both readers show offending values alike.
function showJSON(v) {
  if (Array.isArray(v)) return `[${v.map(showJSON).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const items = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${showJSON(x)}`);
    return `{${items.join(", ")}}`;
  }
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return JSON.stringify(v) ?? String(v);
}

function show(v) {
  const text = showJSON(v);
  return text.length <= 60 ? text : text.slice(0, 57) + "...";
}

function fail(source, message) {
  throw new ModelFileError(`${source}: ${message}`);
}

function showList(list) {
  return `[${list.join(", ")}]`;
}

// ---------------------------------------------------------------------------
// Validation: the rules of helpers/model-format.md, in its order

function isParameterData(path) {
  return path.length === 3 && path[0] === "parameters" && path[2] === "data";
}

function flatNumbers(v) {
  return Array.isArray(v) && v.every((x) => typeof x === "number");
}

function pathText(path) {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text ? `.${key}` : key;
  }
  return text || "the top level";
}

// Rule 3: nesting depth, and every number finite (parameter data aside).
function checkTree(doc, source) {
  const stack = [[doc, [], 1]];
  while (stack.length) {
    const [value, path, depth] = stack.pop();
    if (value !== null && typeof value === "object") {
      if (depth > MAX_DEPTH) {
        fail(source, `the JSON is nested more than ${MAX_DEPTH} levels deep`);
      }
      const entries = Array.isArray(value)
        ? value.map((child, i) => [i, child])
        : Object.entries(value);
      const children = [];
      for (const [key, child] of entries) {
        const childPath = [...path, key];
        if (isParameterData(childPath) && flatNumbers(child)) continue;
        children.push([child, childPath, depth + 1]);
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    } else if (isNumber(value) && !Number.isFinite(value)) {
      fail(
        source,
        `the number at ${pathText(path)} is not finite (an overflowing ` +
          "literal such as 1e999?)",
      );
    }
  }
}

function required(section, name, key, source) {
  if (!has(section, key)) fail(source, `${name}.${key} is missing`);
  return section[key];
}

// Rules 4 to 9: everything but the parameter arrays.
function checkHead(doc, source) {
  if (!isObject(doc)) {
    fail(source, `the top level must be a JSON object, not ${jsonType(doc)}`);
  }
  if (doc.format !== FORMAT_NAME || !has(doc, "format")) {
    const found = has(doc, "format") ? show(doc.format) : "missing";
    fail(source, `not a ${FORMAT_NAME} model file (format is ${found})`);
  }
  if (!has(doc, "format_version")) fail(source, "format_version is missing");
  const version = doc.format_version;
  if (!isInteger(version)) {
    fail(source, `format_version must be an integer, got ${show(version)}`);
  }
  if (version > FORMAT_VERSION) {
    fail(
      source,
      `format version ${version} is newer than this reader understands ` +
        `(${FORMAT_VERSION}); use a newer reader`,
    );
  }
  if (version < 1) {
    fail(
      source,
      `unknown format version ${version} (this reader understands ${FORMAT_VERSION})`,
    );
  }
  for (const key of SECTIONS) {
    if (!has(doc, key)) fail(source, `section "${key}" is missing`);
    if (!isObject(doc[key])) {
      fail(source, `section "${key}" must be a JSON object, not ${jsonType(doc[key])}`);
    }
  }
  const [nVisible, nHidden] = checkModel(doc.model, source);
  checkInput(doc.input, nVisible, source);
  checkTraining(doc.training, source);
  return [nVisible, nHidden];
}

function checkModel(model, source) {
  const fixed = { kind: "tied_autoencoder", activation: "sigmoid" };
  for (const [key, wanted] of Object.entries(fixed)) {
    const value = required(model, "model", key, source);
    if (value !== wanted) {
      fail(source, `model.${key} must be "${wanted}", got ${show(value)}`);
    }
  }
  const tied = required(model, "model", "tied_weights", source);
  if (tied !== true) {
    fail(
      source,
      "model.tied_weights must be true (one W serves the encoder and, " +
        `transposed, the decoder), got ${show(tied)}`,
    );
  }
  for (const [key, allowed] of [
    ["cost", COSTS],
    ["cost_convention", CONVENTIONS],
  ]) {
    const value = required(model, "model", key, source);
    if (!allowed.includes(value)) {
      const choices = allowed.map((a) => `"${a}"`).join(" or ");
      fail(source, `model.${key} must be ${choices}, got ${show(value)}`);
    }
  }
  const sizes = [];
  for (const key of ["n_visible", "n_hidden"]) {
    const value = required(model, "model", key, source);
    if (!isInteger(value) || value < 1) {
      fail(source, `model.${key} must be a positive integer, got ${show(value)}`);
    }
    sizes.push(value);
  }
  return sizes;
}

function checkInput(spec, nVisible, source) {
  const scale = required(spec, "input", "scale", source);
  if (scale !== null && (!isNumber(scale) || scale <= 0)) {
    fail(source, `input.scale must be a number > 0 or null, got ${show(scale)}`);
  }
  const binarize = required(spec, "input", "binarize", source);
  if (typeof binarize !== "boolean") {
    fail(source, `input.binarize must be true or false, got ${show(binarize)}`);
  }
  const threshold = required(spec, "input", "threshold", source);
  const ok = isNumber(threshold) && threshold >= 0 && threshold < 1;
  if (!ok && (binarize || threshold !== null)) {
    const when = binarize ? "" : " or null";
    fail(
      source,
      `input.threshold must be a number in [0, 1)${when}, got ${show(threshold)}`,
    );
  }
  const shape = required(spec, "input", "image_shape", source);
  if (shape === null) return;
  if (
    !(
      Array.isArray(shape) &&
      shape.length === 2 &&
      shape.every((n) => isInteger(n) && n >= 1) &&
      shape[0] * shape[1] === nVisible
    )
  ) {
    fail(
      source,
      "input.image_shape must be null or [rows, cols] with rows * cols = " +
        `model.n_visible (${nVisible}), got ${show(shape)}`,
    );
  }
}

const TRAINING_KEYS = {
  data: ["a string", (v) => typeof v === "string"],
  n_train: ["an integer >= 0", (v) => isInteger(v) && v >= 0],
  n_valid: ["an integer >= 0", (v) => isInteger(v) && v >= 0],
  epochs: ["an integer >= 0", (v) => isInteger(v) && v >= 0],
  batch_size: ["an integer >= 1", (v) => isInteger(v) && v >= 1],
  learning_rate: ["a number > 0", (v) => isNumber(v) && v > 0],
  seed: ["an integer or null", (v) => v === null || isInteger(v)],
  cost_label: ["a string", (v) => typeof v === "string"],
  final_train_cost: ["a number or null", (v) => v === null || isNumber(v)],
  final_valid_cost: ["a number or null", (v) => v === null || isNumber(v)],
  seconds: ["a number >= 0", (v) => isNumber(v) && v >= 0],
  versions: [
    "an object of strings",
    (v) => isObject(v) && Object.values(v).every((s) => typeof s === "string"),
  ],
  date: ["a string", (v) => typeof v === "string"],
  resume: ["an object", (v) => isObject(v)],
};

function checkTraining(training, source) {
  for (const [key, [what, ok]] of Object.entries(TRAINING_KEYS)) {
    if (has(training, key) && !ok(training[key])) {
      fail(source, `training.${key} must be ${what}, got ${show(training[key])}`);
    }
  }
}

// Rule 10: the three arrays, each checked before anything is allocated.
function checkParameters(doc, nVisible, nHidden, source) {
  const params = doc.parameters;
  for (const name of PARAMETER_NAMES) {
    if (!has(params, name)) fail(source, `parameter ${name} is missing`);
  }
  for (const name of Object.keys(params)) {
    if (!PARAMETER_NAMES.includes(name)) {
      fail(
        source,
        `unexpected parameter ${show(name)} (the tied auto-encoder has ` +
          "exactly W, b_h and b_v)",
      );
    }
  }
  const expected = { W: [nVisible, nHidden], b_h: [nHidden], b_v: [nVisible] };
  const arrays = {};
  let dtype = null;
  for (const name of PARAMETER_NAMES) {
    const entry = params[name];
    if (!isObject(entry)) {
      fail(source, `parameter ${name} must be a JSON object, not ${jsonType(entry)}`);
    }
    for (const key of ["dtype", "shape", "data"]) {
      if (!has(entry, key)) fail(source, `parameter ${name}: ${key} is missing`);
    }
    if (!DTYPES.includes(entry.dtype)) {
      fail(
        source,
        `parameter ${name}: dtype must be "float32" or "float64", got ` +
          show(entry.dtype),
      );
    }
    if (dtype === null) dtype = entry.dtype;
    else if (entry.dtype !== dtype) {
      fail(
        source,
        `parameter ${name}: dtype ${entry.dtype} differs from W's ${dtype}; ` +
          "all parameters share one dtype",
      );
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((n) => isInteger(n) && n >= 1)) {
      fail(
        source,
        `parameter ${name}: shape must be a list of positive integers, got ${show(shape)}`,
      );
    }
    const want = expected[name];
    if (shape.length !== want.length || shape.some((n, i) => n !== want[i])) {
      fail(
        source,
        `parameter ${name}: shape ${showList(shape)} disagrees with the model ` +
          `section (n_visible ${nVisible}, n_hidden ${nHidden}), which needs ` +
          showList(want),
      );
    }
    arrays[name] = readData(source, name, entry.data, shape, dtype);
  }
  return { arrays, dtype };
}

function readData(source, name, data, shape, dtype) {
  if (!Array.isArray(data)) {
    fail(source, `parameter ${name}: data must be an array, not ${jsonType(data)}`);
  }
  const needed = shape.reduce((a, b) => a * b, 1);
  if (data.length !== needed) {
    fail(
      source,
      `parameter ${name}: shape ${showList(shape)} needs ${needed} values but ` +
        `data has ${data.length}`,
    );
  }
  const index = data.findIndex((v) => typeof v !== "number");
  if (index >= 0) {
    fail(
      source,
      `parameter ${name}: data[${index}] is not a number, got ${show(data[index])}`,
    );
  }
  // Storing a double in a Float32Array rounds it to the nearest float32.
  const array = dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data);
  const bad = array.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    fail(source, `parameter ${name}: data[${bad}] is not a finite ${dtype} number`);
  }
  return array;
}

// ---------------------------------------------------------------------------
// Reading

export function parseModel(bytes, source = "<model>") {
  if (typeof bytes === "string") bytes = new TextEncoder().encode(bytes);
  if (bytes.length === 0) fail(source, "the file is empty");
  const badByte = firstBadByte(bytes);
  if (badByte >= 0) fail(source, `not UTF-8 text (byte ${badByte} is invalid)`);
  // A leading byte order mark is skipped, as the format allows.
  const text = new TextDecoder("utf-8").decode(bytes);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    if (error instanceof RangeError) {
      fail(source, `the JSON is nested more than ${MAX_DEPTH} levels deep`);
    }
    fail(
      source,
      `not valid JSON: ${error.message.replace(/\s+/g, " ")}; the file may be ` +
        "truncated or damaged",
    );
  }
  checkTree(doc, source);
  const [nVisible, nHidden] = checkHead(doc, source);
  const { arrays, dtype } = checkParameters(doc, nVisible, nHidden, source);
  return {
    path: source,
    nVisible,
    nHidden,
    dtype,
    params: arrays,
    model: doc.model,
    input: doc.input,
    training: doc.training,
  };
}

// Offset of the first byte that starts an ill-formed UTF-8 sequence (the
// well-formed sequences of the Unicode standard, table 3-7), or -1.
function firstBadByte(bytes) {
  const inRange = (i, lo, hi) => i < bytes.length && bytes[i] >= lo && bytes[i] <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let tail;
    if (b <= 0x7f) tail = [];
    else if (b >= 0xc2 && b <= 0xdf) tail = [[0x80, 0xbf]];
    else if (b === 0xe0) tail = [[0xa0, 0xbf], [0x80, 0xbf]];
    else if (b === 0xed) tail = [[0x80, 0x9f], [0x80, 0xbf]];
    else if (b >= 0xe1 && b <= 0xef) tail = [[0x80, 0xbf], [0x80, 0xbf]];
    else if (b === 0xf0) tail = [[0x90, 0xbf], [0x80, 0xbf], [0x80, 0xbf]];
    else if (b >= 0xf1 && b <= 0xf3) tail = [[0x80, 0xbf], [0x80, 0xbf], [0x80, 0xbf]];
    else if (b === 0xf4) tail = [[0x80, 0x8f], [0x80, 0xbf], [0x80, 0xbf]];
    else return i;
    for (let k = 0; k < tail.length; k++) {
      if (!inRange(i + 1 + k, tail[k][0], tail[k][1])) return i;
    }
    i += 1 + tail.length;
  }
  return -1;
}

export function loadModel(path) {
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (error.code === "ENOENT") fail(path, "no such model file");
    if (error.code === "EISDIR") fail(path, "is a folder, not a model file");
    fail(path, `cannot be read (${error.code ?? error.message})`);
  }
  return parseModel(bytes, path);
}

// ---------------------------------------------------------------------------
// Computing, in float64 (every float32 value is exact as a double)

function sigmoid(a) {
  const e = Math.exp(-Math.abs(a));
  return a >= 0 ? 1 / (1 + e) : e / (1 + e);
}

function checkRows(model, rows, what) {
  if (!Array.isArray(rows)) throw new InputError(`${what} must be an array of rows`);
  rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== model.nVisible) {
      throw new InputError(
        `${what}: row ${r} has ${Array.isArray(row) ? row.length : "no"} values; ` +
          `this model (${model.path}) takes rows of ${model.nVisible} values`,
      );
    }
    const bad = row.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
    if (bad >= 0) {
      throw new InputError(`${what}: row ${r}, value ${bad} is not a finite number`);
    }
  });
  return rows;
}

/** Raw rows to model input: divide by scale, check [0, 1], binarize. */
export function prepare(model, rows) {
  checkRows(model, rows, "raw input");
  const { scale, binarize, threshold } = model.input;
  return rows.map((row, r) =>
    row.map((v, j) => {
      const x = scale === null ? v : v / scale;
      if (!(x >= 0 && x <= 1)) {
        throw new InputError(
          `raw input: row ${r}, value ${j} is ${x} after scaling; this model ` +
            `(${model.path}) takes values in [0, 1] (scale ${scale})`,
        );
      }
      return binarize ? (x > threshold ? 1 : 0) : x;
    }),
  );
}

/** Hidden codes h = sigmoid(x W + b_h), one array per row. */
export function encode(model, rows) {
  checkRows(model, rows, "input");
  const { W, b_h } = model.params;
  const nH = model.nHidden;
  return rows.map((x) => {
    const a = Array.from(b_h);
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const offset = i * nH;
      for (let j = 0; j < nH; j++) a[j] += xi * W[offset + j];
    }
    return a.map(sigmoid);
  });
}

/** Reconstructions x_hat = sigmoid(h W^T + b_v), one array per row. */
export function reconstruct(model, rows) {
  const { W, b_v } = model.params;
  const nH = model.nHidden;
  return encode(model, rows).map((h) => {
    const z = new Array(model.nVisible);
    for (let i = 0; i < model.nVisible; i++) {
      let s = b_v[i];
      const offset = i * nH;
      for (let j = 0; j < nH; j++) s += h[j] * W[offset + j];
      z[i] = sigmoid(s);
    }
    return z;
  });
}

// ---------------------------------------------------------------------------
// Command line

const USAGE = `usage: node read_model.mjs MODEL [INPUT] [--encode] [--prepare]
       node read_model.mjs --check MODEL...`;

function readInput(path) {
  let text;
  try {
    text = path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (error) {
    throw new InputError(`${path}: cannot be read (${error.code ?? error.message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`${path}: not valid JSON: ${error.message}`);
  }
}

function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith("--")));
  const files = argv.filter((a) => !a.startsWith("--") || a === "-");
  const known = new Set(["--encode", "--prepare", "--check", "--help"]);
  const unknown = [...flags].filter((f) => !known.has(f));
  if (flags.has("--help")) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (unknown.length || files.length === 0) {
    process.stderr.write(
      (unknown.length ? `unknown option ${unknown[0]}\n` : "") + USAGE + "\n",
    );
    return 1;
  }
  if (flags.has("--check")) {
    let status = 0;
    for (const file of files) {
      try {
        loadModel(file);
        process.stdout.write(JSON.stringify({ file, ok: true }) + "\n");
      } catch (error) {
        if (!(error instanceof ModelFileError)) throw error;
        status = 2;
        process.stdout.write(
          JSON.stringify({ file, ok: false, error: error.message }) + "\n",
        );
      }
    }
    return status;
  }
  if (files.length > 2) {
    process.stderr.write(USAGE + "\n");
    return 1;
  }
  try {
    const model = loadModel(files[0]);
    if (files.length === 1) {
      const summary = {
        file: model.path,
        format: FORMAT_NAME,
        format_version: FORMAT_VERSION,
        n_visible: model.nVisible,
        n_hidden: model.nHidden,
        dtype: model.dtype,
        model: model.model,
        input: model.input,
      };
      process.stdout.write(JSON.stringify(summary) + "\n");
      return 0;
    }
    let rows = readInput(files[1]);
    if (flags.has("--prepare")) rows = prepare(model, rows);
    const data = flags.has("--encode") ? encode(model, rows) : reconstruct(model, rows);
    const output = flags.has("--encode") ? "hidden" : "reconstruction";
    const width = flags.has("--encode") ? model.nHidden : model.nVisible;
    process.stdout.write(
      JSON.stringify({ output, shape: [data.length, width], data }) + "\n",
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ModelFileError || error instanceof InputError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
