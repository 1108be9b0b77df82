"""Keras 3 (TensorFlow backend): model.fit over a tf.data.Dataset of unknown length (from a
generator, or after filter) counts one update more in optimizer.iterations at the end of each
epoch than it applies. With steps_per_execution=1 the compiled step runs until the dataset's
get_next raises OutOfRange, and that last call has already added 1 to the count: the weights do
not move, the count does. Adam's bias corrections and every schedule read the count, so from
the second epoch on each update runs one step late per epoch before it (ERRATA.md).

Exits 1 while three epochs of three Adam updates over a generator leave optimizer.iterations at
more than 9, or leave a weight other than the one the same data give with a known length."""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

keras.config.set_floatx("float64")
X = np.array([[1.0], [2.0], [0.5]])
Y = np.array([[1.0], [3.0], [2.0]])
SPEC = (tf.TensorSpec((None, 1), tf.float64), tf.TensorSpec((None, 1), tf.float64))


def trained(dataset):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    model.fit(dataset, epochs=3, verbose=0)
    return int(model.optimizer.iterations.numpy()), float(model.get_weights()[0][0, 0])


unknown = tf.data.Dataset.from_generator(lambda: ((X[[i]], Y[[i]]) for i in range(3)),
                                         output_signature=SPEC)
count, weight = trained(unknown)
known_count, known_weight = trained(tf.data.Dataset.from_tensor_slices((X, Y)).batch(1))
print(f"keras {keras.__version__}, tensorflow {tf.__version__}: 3 epochs of 3 batches; "
      f"unknown length: optimizer.iterations = {count}, weight {weight!r}; known length "
      f"(cardinality {int(tf.data.Dataset.from_tensor_slices(X).batch(1).cardinality())}): "
      f"{known_count}, weight {known_weight!r}; deviation of the weight "
      f"{abs(weight - known_weight) / abs(known_weight):.3g} relative")
sys.exit(1 if count != 9 or weight != known_weight else 0)
