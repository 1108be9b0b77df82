"""The case as a Keras user trains it: keras.Sequential with Dense layers, Keras's losses,
keras.optimizers and their schedules, model.compile and model.fit, on the TensorFlow backend
(issue #31).

Not a mirror of reference/: it has no per-formula modules, only `model.py`, written the way
Keras's guides write a model and its training. tensorflow_impl mirrors the reference formula
by formula with tf.GradientTape; this package is what people port between frameworks.
Importing it does not import keras or tensorflow.
"""

IMPLEMENTATION = {
    "name": "keras",
    "description": "Keras 3 as its users train: Sequential, Dense, keras.losses, "
                   "keras.optimizers and schedules, model.fit (TensorFlow backend)",
    "requires": ["keras", "tensorflow"],
    "install": 'pip install -c constraints.txt -e ".[tensorflow]"',
    # fit's train_step updates every variable after the tape has differentiated every layer:
    # the sequential schedule has no idiomatic form.
    "schedules": ["simultaneous"],
    # keras.optimizers.SGD (the rate inside the velocity, B = mu B - lr dP, no dampening,
    # Nesterov), Adam and AdamW (epsilon-hat: lr sqrt(1 - beta2^k) / (1 - beta1^k) M /
    # (sqrt(V) + eps)); every optimizer's weight_decay is decoupled and times the rate
    # (P - P wd lr, before the step); ExponentialDecay with staircase and CosineDecay (with
    # warmup_target), read at optimizer.iterations (offset 0); global_clipnorm (no eps).
    # Coupled decay is a kernel_regularizer in Keras, which adds (lambda / 2)||W||^2 to the
    # loss that fit reports, and no switch turns off the bias correction, moves epsilon, damps
    # the velocity, puts the rate outside it or decays without lr: those cases are listed.
    "training": ["optimizer:sgd", "optimizer:momentum", "optimizer:adam", "optimizer:adamw",
                 "velocity:lr_inside", "nesterov", "epsilon:hat", "decay:decoupled",
                 "lr_schedule:constant", "lr_schedule:step", "lr_schedule:cosine", "clip",
                 "clip_eps:0.0"],
    "expected_failures": [
        {"case": "*", "dtype": "float64", "activation": "leaky_relu", "strict": False,
         "reason": "keras.layers.LeakyReLU calls tf.nn.leaky_relu, whose slope is a 32-bit "
                   "attribute: in float64 the slope is float32(0.01) = 0.009999999776, a "
                   "relative 2.2e-8 in every negative activation and its gradient (ERRATA.md, "
                   "the tensorflow package's finding; against the tensorflow package, which "
                   "shares it, the pair agrees)"},
        *({"case": "*", "dtype": "float64", "training": [feature], "strict": False,
           "reason": "Keras converts a Python-float hyperparameter to a float32 tensor before "
                     "casting it to the variable's dtype, and a schedule computes in the dtype "
                     "of its Python-float initial rate: in float64, beta_1 = 0.9 is "
                     "0.8999999761581421, a relative 1e-8 to 1e-5 in every update (ERRATA.md; "
                     "findings/keras_hyperparameters_float32.py). Hyperparameters that are "
                     "float32 numbers agree (optim-adamw-hat-clip, optim-nesterov-inside-decay)"}
          for feature in ("optimizer:momentum", "optimizer:adam", "optimizer:adamw",
                          "decay:decoupled", "lr_schedule:step", "lr_schedule:cosine"))],
}


def train(case, **options):
    """keras_impl.model.train (imported on first use)."""
    from .model import train as run
    return run(case, **options)


def environment(**_) -> dict:
    """Keras's and TensorFlow's versions, the backend and floatx, for the manifest."""
    from .model import keras, tf
    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "backend": keras.backend.backend(), "floatx": keras.config.floatx()}
