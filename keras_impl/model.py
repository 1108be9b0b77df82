"""A case trained as a Keras user writes it (see the package docstring).

Data are rows here, as Keras expects them: a batch is X.T[idx], (batch, n[0]); a Dense layer's
kernel is (in, out), the seeds' W[l] transposed, and its bias is b[l] without the column axis.
keras.config.set_floatx follows the case's dtype, as a Keras user asks for float64. The case's
losses (docs/SPEC.md, "Losses and reductions") from Keras's: mse as keras.losses.
MeanSquaredError, cce as CategoricalCrossentropy on the logits, bce as BinaryCrossentropy on
the logits (one output unit; with more, Keras's averages over the units where the case sums, so
the elementwise keras.ops.binary_crossentropy is summed in a Loss subclass), and half_sse,
which Keras has no class for, as a Loss subclass. The reduction: "sum_over_batch_size" (mean)
or "sum".

The training is model.fit over a tf.data.Dataset of the case's batches, in order, with the
train_step of Keras's guide "Customizing what happens in fit()": a GradientTape, compute_loss,
optimizer.apply, returning the batch's own loss (fit's default reports a running mean), which a
callback records at every batch.
"""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # this package is Keras on TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before tensorflow loads: no log noise

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from comparisons.protocol import TrainResult  # noqa: E402
from comparisons.protocol.case import slots_of  # noqa: E402
from comparisons.protocol.devices import autocast_class  # noqa: E402

ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "identity": None}
FUSED = {"bce": keras.activations.sigmoid, "cce": keras.activations.softmax}  # loss: A[L] from z
REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum"}
STEPS_PER_EXECUTION = 256


class HalfSumOfSquares(keras.losses.Loss):
    """½ Σ over the units (y − a)², per example: the seeds' E (Keras has no class for it)."""

    def call(self, y_true, y_pred):
        return 0.5 * ops.sum(ops.square(y_true - y_pred), axis=-1)


class SummedBinaryCrossentropy(keras.losses.Loss):
    """Σ over the units of Keras's elementwise binary cross-entropy on the logits (its
    BinaryCrossentropy averages over the units)."""

    def call(self, y_true, y_pred):
        return ops.sum(ops.binary_crossentropy(y_true, y_pred, from_logits=True), axis=-1)


class Model(keras.Sequential):
    """keras.Sequential with the train_step of Keras's guide. It keeps every batch's own loss
    in `batch_losses` (fit's logs report a running mean, and only once per steps_per_execution)."""

    def __init__(self, layers, updates: int):
        super().__init__(layers)
        self.batch_losses = tf.Variable(tf.zeros(max(updates, 1), dtype=self.dtype),
                                   trainable=False)
        self.done = tf.Variable(0, dtype=tf.int64, trainable=False)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.batch_losses.scatter_nd_update(tf.reshape(self.done, (1, 1)), tf.reshape(loss, (1,)))
        self.done.assign_add(1)
        return {"loss": loss}


def build_model(case) -> Model:
    """Dense layers and activations with the case's parameters; the output activation is left
    to the loss where Keras fuses it (from_logits=True: bce, cce). leaky_relu is a LeakyReLU
    layer (the activation string's slope is 0.2; the case's is 0.01)."""
    stack = [keras.Input((case.layers[0],), dtype=case.dtype)]
    for l in range(1, case.L + 1):
        g = case.activations[l - 1]
        fused = l == case.L and case.loss in FUSED
        dense = layers.Dense(case.layers[l], dtype=case.dtype,
                             activation=None if fused or g == "leaky_relu" else ACTIVATIONS[g])
        stack.append(dense)
        if g == "leaky_relu" and not fused:
            stack.append(layers.LeakyReLU(negative_slope=0.01, dtype=case.dtype))
    model = Model(stack, case.updates)
    for l, dense in enumerate(dense_layers(model), start=1):
        dense.set_weights([case.params[f"W{l}"].T, case.params[f"b{l}"][:, 0]])
    return model


def dense_layers(model) -> list:
    return [m for m in model.layers if isinstance(m, layers.Dense)]


def named_parameters(model) -> dict:
    """{"W1": layer 1's kernel, "b1": its bias, ...}."""
    return {f"{p}{l}": m.kernel if p == "W" else m.bias
            for l, m in enumerate(dense_layers(model), start=1) for p in "Wb"}


def loss_function(case):
    """The case's loss of a batch, (targets, outputs or logits) -> 0-d, from Keras's."""
    reduction = REDUCTIONS[case.reduction]
    if case.loss == "cce":
        return keras.losses.CategoricalCrossentropy(from_logits=True, reduction=reduction)
    if case.loss == "mse":
        return keras.losses.MeanSquaredError(reduction=reduction)
    if case.loss == "bce" and case.layers[-1] == 1:
        return keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction)
    cls = SummedBinaryCrossentropy if case.loss == "bce" else HalfSumOfSquares
    return cls(reduction=reduction)


def outputs(case, model, X):
    """A[L] of the rows X, (m, n[L])."""
    out = model(X, training=False)
    return FUSED[case.loss](out) if case.loss in FUSED else out


def make_scheduler(case):
    """The rate: keras.optimizers.schedules.ExponentialDecay with staircase for a step decay,
    CosineDecay (with warmup_target and warmup_steps for a warm-up) for a cosine; lr itself
    for a constant rate. Keras reads it at optimizer.iterations, the updates done (offset 0)."""
    s, lr = case.lr_schedule, case.lr
    schedules = keras.optimizers.schedules
    if s is None or s["name"] == "constant":
        return lr
    if s["name"] == "step":
        return schedules.ExponentialDecay(lr, decay_steps=s["step_size"], decay_rate=s["gamma"],
                                          staircase=True)
    if not s["warmup"]:
        return schedules.CosineDecay(lr, decay_steps=s["decay_steps"], alpha=s["final_factor"])
    return schedules.CosineDecay(s["start_factor"] * lr, decay_steps=s["decay_steps"],
                                 alpha=s["final_factor"], warmup_target=lr,
                                 warmup_steps=s["warmup"])


def make_optimizer(case, rate):
    """keras.optimizers' optimizer for the case's (docs/CASES.md, "Optimizers"): SGD (momentum
    with the rate inside the velocity, Nesterov), Adam and AdamW (epsilon-hat); every Keras
    optimizer's weight_decay is decoupled and times the rate; global_clipnorm clips by the
    global norm."""
    o = case.optimizer or {"name": "sgd", "weight_decay": 0.0}
    options = {"learning_rate": rate, "weight_decay": o["weight_decay"] or None,
               "global_clipnorm": case.clip["max_norm"] if case.clip else None}
    if o["name"] in ("sgd", "momentum"):
        return keras.optimizers.SGD(momentum=o.get("momentum", 0.0),
                                    nesterov=o.get("nesterov", False), **options)
    adam = keras.optimizers.AdamW if o["name"] == "adamw" else keras.optimizers.Adam
    return adam(beta_1=o["beta1"], beta_2=o["beta2"], epsilon=o["eps"], **options)


def slot_variables(optimizer, variable) -> dict:
    """The optimizer's slots for `variable`, by the suite's names: Adam's and AdamW's moments,
    SGD's velocity (its lists are indexed as Keras's own update_step indexes them)."""
    i = optimizer._get_variable_index(variable)
    if isinstance(optimizer, keras.optimizers.Adam):
        return {"M": optimizer._momentums[i], "V": optimizer._velocities[i]}
    return {"B": optimizer.momentums[i]} if optimizer.momentum else {}


def load_state(optimizer, params: dict, state: dict) -> None:
    """A resumed optimizer state (the case's `initial_state`): the iteration count, which the
    schedule and the bias corrections read, and each slot."""
    optimizer.build(list(params.values()))
    optimizer.iterations.assign(state["step"])
    for k, p in params.items():
        for slot, variable in slot_variables(optimizer, p).items():
            value = np.asarray(state[slot][k])
            variable.assign(value.T if k[0] == "W" else value.reshape(-1))


def read_state(optimizer, params: dict, step: int, slots, shapes: dict) -> dict:
    """The optimizer's state in the results block's form: each slot per parameter, in the
    parameter's `shapes` (a bias (n, 1))."""
    return {"step": step} | {
        slot: {k: to_seeds(k, slot_variables(optimizer, p)[slot], shapes)
               for k, p in params.items()} for slot in slots}


def dataset(X, Y, batches):
    """The case's batches, in order, as a tf.data.Dataset of known length: over a dataset of
    unknown length (from_generator's), fit counts one update more in optimizer.iterations at
    the end of each epoch than it applies, so that the next epoch's schedule and bias
    corrections run one update late (ERRATA.md; findings/keras_fit_unknown_length_iterations.py)."""
    if all(isinstance(idx, slice) for idx in batches):
        return tf.data.Dataset.from_tensors((X, Y)).repeat(len(batches))
    spec = (tf.TensorSpec((None, X.shape[1]), X.dtype), tf.TensorSpec((None, Y.shape[1]), Y.dtype))
    return tf.data.Dataset.from_generator(
        lambda: ((X[idx], Y[idx]) for idx in batches), output_signature=spec).apply(
        tf.data.experimental.assert_cardinality(len(batches)))


def to_seeds(k, value, shapes):
    """A kernel (in, out) or bias (n,) back into the seeds' shape."""
    value = ops.convert_to_numpy(value)
    return (value.T if k[0] == "W" else value).reshape(shapes[k]).copy()


def train(case, **_):
    """The case's training: model.compile and model.fit, the way Keras's guides write them."""
    keras.config.set_floatx(case.dtype)
    # layer names from 0 in every run of this worker; without its gc.collect, which cost 0.2
    # to 0.5 s a run, most of a one-update run (local judging makes one per update)
    keras.utils.clear_session(free_memory=False)
    X = np.ascontiguousarray(case.X.T, dtype=case.dtype)
    Y = np.ascontiguousarray(case.Y.T, dtype=case.dtype)
    model = build_model(case)
    loss_fn = loss_function(case)
    params = named_parameters(model)
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    batches, first = case.update_batches()
    initial_outputs = ops.convert_to_numpy(outputs(case, model, X)).T.copy()
    with tf.GradientTape() as tape:
        first_loss = loss_fn(Y[first], model(X[first], training=True))
    gradients = {k: to_seeds(k, g, shapes)
                 for k, g in zip(params, tape.gradient(first_loss, list(params.values())))}
    trainable = {k: p for k, p in params.items() if k in case.trainable_names}
    for k, p in params.items():
        p.trainable = k in trainable
    optimizer = make_optimizer(case, make_scheduler(case))
    # Keras's knob for small models: many updates per call of the compiled function.
    model.compile(optimizer=optimizer, loss=loss_fn,
                  steps_per_execution=max(1, min(case.updates, STEPS_PER_EXECUTION)))
    start = 0 if case.initial_state is None else case.initial_state["step"]
    if start:
        load_state(optimizer, trainable, case.initial_state)
    if case.updates:
        model.fit(dataset(X, Y, batches), epochs=1, verbose=0, shuffle=False)
    if int(model.done.numpy()) != case.updates:  # pragma: no cover - fit stopped early
        raise RuntimeError(f"keras_impl: fit ran {int(model.done.numpy())} of "
                           f"{case.updates} updates")  # the losses would be misplaced
    losses = np.append(model.batch_losses.numpy()[:case.updates],
                       float(loss_fn(Y, model(X, training=False)))).astype(case.dtype)
    state = None
    if case.stateful:
        state = (read_state(optimizer, trainable, int(optimizer.iterations.numpy()),
                            slots_of(case.optimizer), shapes) if case.updates
                 else case.initial_state or {"step": 0} | {  # no update: the state it had
                     s: {k: np.zeros(shapes[k]) for k in trainable}
                     for s in slots_of(case.optimizer)})
    return TrainResult(
        losses=losses, gradients=gradients,
        final_params={k: to_seeds(k, p, shapes) for k, p in params.items()},
        final_outputs=ops.convert_to_numpy(outputs(case, model, X)).T.copy(),
        initial_outputs=initial_outputs, final_state=state)


def autocast_policy(mode: str) -> dict:
    """{operation: what Keras's mixed_<mode> global policy does to it}
    (comparisons.protocol.devices.autocast_class): Dense, Activation and LeakyReLU layers and
    Loss objects as a Keras user builds them, on float32 inputs and on inputs already in
    `mode`. The policy is set for the measurement and float32 restored after it."""
    keras.mixed_precision.set_global_policy(f"mixed_{mode}")
    try:
        x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
        y = np.full((4, 3), 1 / 3, dtype="float32")
        act = layers.Activation
        ops_ = {"linear": layers.Dense(3),
                "matmul": lambda a: ops.matmul(a, ops.cast(np.ones((3, 3)), a.dtype)),
                "tanh": act("tanh"), "sigmoid": act("sigmoid"), "relu": act("relu"),
                "leaky_relu": layers.LeakyReLU(0.01), "softmax": act("softmax"),
                "log_softmax": act("log_softmax"),
                "cross_entropy": lambda a: keras.losses.CategoricalCrossentropy(
                    from_logits=True)(y, a),
                "mse": lambda a: keras.losses.MeanSquaredError()(y, a),
                "bce_with_logits": lambda a: keras.losses.BinaryCrossentropy(
                    from_logits=True)(y, a),
                "sum": lambda a: ops.sum(a)}
        std = keras.backend.standardize_dtype
        return {k: autocast_class(*[std(f(ops.cast(x, d)).dtype) for d in ("float32", mode)],
                                  mode) for k, f in ops_.items()}
    finally:
        keras.mixed_precision.set_global_policy("float32")
