#!/usr/bin/env node
// backprop-parity's networks in TensorFlow.js (its pure-JS CPU backend), float32: an
// implementation outside Python. It reads a case file (docs/CASES.md: explicit params, X, Y
// and batches) and writes the results block (comparisons/GOLDEN.md):
//   node train.js CASE.json RESULTS.json      (node train.js --environment: its versions)
// Forward passes in tf ops; every derivative from TensorFlow.js's autodiff (tf.grads, tf.vjp
// through tf.grad with a cotangent), each op as its users call it: tf.leakyRelu,
// tf.losses.sigmoidCrossEntropy, tf.losses.softmaxCrossEntropy. Same steps as reference/.
'use strict';
const fs = require('fs');
// the union package: tfjs-core with its gradients registered, and the pure-JS CPU backend
const tf = require('@tensorflow/tfjs');

const LEAKY_RELU_SLOPE = 0.01;
const NONE = tf.Reduction.NONE;

// --- activations ----------------------------------------------------------------------
const FORWARD = {
  sigmoid: (z) => tf.sigmoid(z),
  tanh: (z) => tf.tanh(z),
  relu: (z) => tf.relu(z),
  leaky_relu: (z) => tf.leakyRelu(z, LEAKY_RELU_SLOPE),
  identity: (z) => z,
  softmax: (z) => tf.transpose(tf.softmax(tf.transpose(z))), // over each column
};

// v^T (d f / d x), by autodiff
function vjp(f, x, v) {
  return tf.grad(f)(x, v);
}

// --- losses: a per-sample loss over the n[L] units, then sum or mean over the m samples -----
function reduce(perSample, reduction) {
  const total = tf.sum(perSample);
  return reduction === 'sum' ? total : tf.div(total, perSample.shape[0]);
}

const LOSS = {
  half_sse: (A, Y, r) => reduce(tf.sum(tf.mul(0.5, tf.square(tf.sub(Y, A))), 0), r),
  mse: (A, Y, r) => reduce(tf.div(tf.sum(tf.square(tf.sub(Y, A)), 0), A.shape[0]), r),
};

function bceFromLogits(Z, Y, reduction) {
  const perUnit = tf.losses.sigmoidCrossEntropy(Y, Z, undefined, 0, NONE);
  return reduce(tf.sum(perUnit, 0), reduction);
}

function cceFromLogits(Z, Y, reduction) {
  // samples on the first axis, classes on the last: the transposes
  const perSample = tf.losses.softmaxCrossEntropy(tf.transpose(Y), tf.transpose(Z), undefined,
                                                  0, NONE);
  return reduce(perSample, reduction);
}

// --- network -------------------------------------------------------------------------------
function linearForward(Aprev, W, b) {
  return tf.add(tf.matMul(W, Aprev), b);
}

function forwardPropagation(X, params, activations) {
  let A = X;
  const caches = [];
  activations.forEach((g, i) => {
    const l = i + 1;
    const Z = linearForward(A, params[`W${l}`], params[`b${l}`]);
    const Aprev = A;
    A = FORWARD[g](Z);
    caches.push({ Aprev, Z, A });
  });
  return [A, caches];
}

function computeLoss(AL, ZL, Y, loss, reduction) {
  if (loss === 'bce') return bceFromLogits(ZL, Y, reduction);
  if (loss === 'cce') return cceFromLogits(ZL, Y, reduction);
  return LOSS[loss](AL, Y, reduction);
}

function outputDelta(ZL, Y, loss, reduction, activation) {
  return vjp((z) => computeLoss(FORWARD[activation](z), z, Y, loss, reduction), ZL,
             tf.scalar(1));
}

// (dW, db): the VJP of linearForward with respect to W and b (zeros stand in: it does not
// depend on their values)
function linearBackwardWeights(dZ, Aprev) {
  const W = tf.zeros([dZ.shape[0], Aprev.shape[0]]);
  const b = tf.zeros([dZ.shape[0], 1]);
  const [dW, db] = tf.grads((w, c) => linearForward(Aprev, w, c))([W, b], dZ);
  return [dW, db];
}

function linearBackwardInput(dZ, W) {
  const A = tf.zeros([W.shape[1], dZ.shape[1]]);
  const b = tf.zeros([W.shape[0], 1]);
  return vjp((a) => linearForward(a, W, b), A, dZ);
}

function activationBackward(dA, Z, activation) {
  return vjp(FORWARD[activation], Z, dA);
}

// every parameter's gradient, one tf.grads over the whole graph
function gradients(X, Y, params, net) {
  const names = Object.keys(params);
  const f = (...ps) => {
    const p = Object.fromEntries(names.map((k, i) => [k, ps[i]]));
    const [AL, caches] = forwardPropagation(X, p, net.activations);
    return computeLoss(AL, caches[caches.length - 1].Z, Y, net.loss, net.reduction);
  };
  const { value, grads } = tf.valueAndGrads(f)(names.map((k) => params[k]));
  return [value, Object.fromEntries(names.map((k, i) => [k, grads[i]]))];
}

// --- training -----------------------------------------------------------------------------
function simultaneousStep(params, X, Y, net, lr, trainable) {
  const [value, g] = gradients(X, Y, params, net);
  const next = { ...params };
  for (const k of trainable) next[k] = tf.sub(params[k], tf.mul(lr, g[k]));
  return [value, next];
}

function sequentialStep(params, X, Y, net, lr, trainable) {
  const [AL, caches] = forwardPropagation(X, params, net.activations);
  const L = net.activations.length;
  const ZL = caches[L - 1].Z;
  const value = computeLoss(AL, ZL, Y, net.loss, net.reduction);
  const next = { ...params };
  let dZ = outputDelta(ZL, Y, net.loss, net.reduction, net.activations[L - 1]);
  for (let l = L; l >= 1; l--) {
    const [dW, db] = linearBackwardWeights(dZ, caches[l - 1].Aprev);
    if (trainable.includes(`W${l}`)) next[`W${l}`] = tf.sub(params[`W${l}`], tf.mul(lr, dW));
    if (trainable.includes(`b${l}`)) next[`b${l}`] = tf.sub(params[`b${l}`], tf.mul(lr, db));
    if (l > 1) {
      const dA = linearBackwardInput(dZ, next[`W${l}`]);
      dZ = activationBackward(dA, caches[l - 2].Z, net.activations[l - 2]);
    }
  }
  return [value, next];
}

const STEPS = { simultaneous: simultaneousStep, sequential: sequentialStep };

// a float64 number as the float32 tensor value it rounds to
const f32 = (a) => tf.tensor(a, undefined, 'float32');
const columns = (A, idx) => tf.gather(A, tf.tensor1d(idx, 'int32'), 1);
const rows = (t) => t.arraySync();
// a float32 value as JSON: its float64 decimal, which reads back exactly; null if not finite
const number = (x) => (Number.isFinite(x) ? x : null);
const block = (t) => JSON.parse(JSON.stringify(rows(t), (k, v) => (typeof v === 'number' ? number(v) : v)));

function train(c) {
  if ((c.dtype || 'float64') !== 'float32') throw new Error(`dtype ${c.dtype}: float32 only`);
  if (!c.train.batches) throw new Error('train.batches: the judge writes the explicit order');
  const L = c.activations.length;
  const names = [];
  for (let l = 1; l <= L; l++) names.push(`W${l}`, `b${l}`);
  const trainable = c.train.trainable || names;
  const net = { activations: c.activations, loss: c.loss, reduction: c.reduction };
  const lr = tf.scalar(Math.fround(c.train.lr));
  const X = f32(c.X);
  const Y = f32(c.Y);
  let params = Object.fromEntries(names.map((k) => [k, f32(c.params[k])]));
  const batches = c.train.batches;
  const first = batches.length ? batches[0] : [...Array(X.shape[1]).keys()];
  const [A0] = forwardPropagation(X, params, c.activations);
  const [, g0] = gradients(columns(X, first), columns(Y, first), params, net);
  const losses = [];
  for (const idx of batches) {
    const [value, next] = STEPS[c.train.schedule || 'simultaneous'](
      params, columns(X, idx), columns(Y, idx), net, lr, trainable);
    losses.push(value.dataSync()[0]);
    params = next;
  }
  const [AL, caches] = forwardPropagation(X, params, c.activations);
  losses.push(computeLoss(AL, caches[L - 1].Z, Y, c.loss, c.reduction).dataSync()[0]);
  return {
    losses: losses.map(number),
    gradients: Object.fromEntries(names.map((k) => [k, block(g0[k])])),
    final_params: Object.fromEntries(names.map((k) => [k, block(params[k])])),
    final_outputs: block(AL),
    initial_outputs: block(A0),
  };
}

function main() {
  const [casePath, resultsPath] = process.argv.slice(2);
  if (casePath === '--environment') {  // versions, for the judge's manifest
    tf.setBackend('cpu');
    process.stdout.write(JSON.stringify({ tfjs: tf.version.tfjs, node: process.version,
                                          backend: tf.getBackend() }));
    return;
  }
  if (!casePath || !resultsPath) {
    process.stderr.write('usage: node train.js CASE.json RESULTS.json\n');
    process.exit(2);
  }
  tf.setBackend('cpu');
  const c = JSON.parse(fs.readFileSync(casePath, 'utf8'));
  const results = tf.tidy(() => train(c));
  fs.writeFileSync(resultsPath, JSON.stringify(results));
}

main();
