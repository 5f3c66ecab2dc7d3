"""Mini-batch training loop for the numpy ConvNet."""
import numpy as np


class ClassifierTrainer:
    def train(self, X, y, model, learning_rate_decay=0.95, sample_batches=True, num_epochs=30,
              batch_size=100, acc_frequency=None, verbose=False, optimizer=None):
        """Train `model` on (X, y) with `optimizer`; returns (loss_history, train_acc_history).

        Each iteration draws a batch with replacement (np.random.choice), or uses all of X when sample_batches
        is False. Training accuracy (on at most 1000 samples) is recorded on the first iteration, at the end of
        every epoch, and every acc_frequency iterations if given; the learning rate decays at each epoch end after
        the first iteration."""
        if optimizer is None:
            raise ValueError("ClassifierTrainer.train needs an optimizer, e.g. optimizer=SGD(model)")
        n = X.shape[0]
        if n == 0 or len(y) != n:
            raise ValueError(f"ClassifierTrainer.train needs as many labels as images, at least one: got {n} images "
                             f"and {len(y)} labels")
        checked = {"batch_size": batch_size} if sample_batches else {}  # full batches use no batch_size
        if acc_frequency is not None:  # None: no periodic accuracy; 0 would divide by zero
            checked["acc_frequency"] = acc_frequency
        for name, value in checked.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ClassifierTrainer.train: {name} must be an integer >= 1, got {value!r}")
        iterations_per_epoch = max(n // batch_size, 1) if sample_batches else 1
        loss_history, train_acc_history = [], []
        epoch = 0
        for it in range(num_epochs * iterations_per_epoch):
            if sample_batches:
                batch = np.random.choice(n, batch_size)
                X_batch, y_batch = X[batch], y[batch]
            else:
                X_batch, y_batch = X, y
            _, loss = model.forward(X_batch, y_batch)
            model.backward()
            optimizer.update(model)
            loss_history.append(loss)

            epoch_end = (it + 1) % iterations_per_epoch == 0
            if epoch_end and it > 0:  # the kit's rule: iteration 0 never decays, even where it ends an epoch
                optimizer.learning_rate *= learning_rate_decay
                epoch += 1
            periodic = acc_frequency is not None and it % acc_frequency == 0
            if it == 0 or epoch_end or periodic:
                train_acc = self._accuracy(X, y, model)
                train_acc_history.append(train_acc)
                if verbose:
                    print(f"epoch {epoch:3d}/{num_epochs}  loss {loss:.4f}  train acc {train_acc:.3f}"
                          f"  lr {optimizer.learning_rate:.3e}")
        return loss_history, train_acc_history

    @staticmethod
    def _accuracy(X, y, model, max_samples=1000):
        if X.shape[0] > max_samples:
            subset = np.random.choice(X.shape[0], max_samples)
            X, y = X[subset], y[subset]
        probs, _ = model.forward(X, y)
        return float(np.mean(probs.argmax(axis=1) == y))
