"""backprop-parity's networks in TensorFlow.js (../train.js), registered from outside the
suite: an implementation in another language, run as a command (comparisons/command.py).
This package is only its declaration: the judge writes each case file, runs the command, and
reads the results block it writes."""

IMPLEMENTATION = {
    "name": "tfjs",
    "description": "TensorFlow.js 4.22 (pure-JS CPU backend), tf.grads, run by Node.js",
    # A program on PATH and a file relative to this package's directory (comparisons/protocol.py)
    "requires": ["node", "../node_modules/@tensorflow/tfjs/package.json"],
    "install": "npm ci --prefix examples/tfjs_impl && pip install -e examples/tfjs_impl",
    "command": ["node", "../train.js", "{case}", "{results}"],
    "environment_command": ["node", "../train.js", "--environment"],
    "dtypes": ["float32"],  # TensorFlow.js computes in float32 only
}
