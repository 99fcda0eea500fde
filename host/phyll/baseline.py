"""The digital baseline beside every run: multinomial logistic regression on the standardised
features.

The objective is scikit-learn's default LogisticRegression (L-BFGS, C = 1: the summed
cross-entropy plus half the squared norm of the coefficients, the intercepts unpenalised), so
its numbers can be checked against scikit-learn's; scipy's L-BFGS fits it here because importing
scikit-learn costs every `phyll train` process ~2 s.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp


class LogisticRegression:
    def __init__(self, n_classes: int, c: float = 1.0, max_iter: int = 2000) -> None:
        self.n_classes, self.c, self.max_iter = n_classes, c, max_iter
        self.coef: np.ndarray | None = None  # (classes, features)
        self.intercept: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LogisticRegression":
        x = np.asarray(x, dtype=np.float64)
        onehot = np.eye(self.n_classes)[np.asarray(y)]
        n_features = x.shape[1]

        def loss_and_grad(flat: np.ndarray) -> tuple[float, np.ndarray]:
            weights = flat.reshape(self.n_classes, n_features + 1)
            scores = x @ weights[:, :-1].T + weights[:, -1]
            log_norm = logsumexp(scores, axis=1, keepdims=True)
            loss = float(np.sum(log_norm[:, 0] - np.sum(onehot * scores, axis=1)))
            error = np.exp(scores - log_norm) - onehot
            grad = np.c_[error.T @ x, error.sum(axis=0)]
            loss += 0.5 / self.c * float(np.sum(weights[:, :-1] ** 2))
            grad[:, :-1] += weights[:, :-1] / self.c
            return loss, grad.ravel()

        start = np.zeros(self.n_classes * (n_features + 1))
        found = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B",
                         options={"maxiter": self.max_iter, "gtol": 1e-6})
        weights = found.x.reshape(self.n_classes, n_features + 1)
        self.coef, self.intercept = weights[:, :-1], weights[:, -1]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise ValueError("fit the logistic regression before predicting")
        return np.argmax(np.asarray(x, dtype=np.float64) @ self.coef.T + self.intercept, axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Percent of rows predicted right."""
        return 100.0 * float(np.mean(self.predict(x) == np.asarray(y)))

    @property
    def parameters(self) -> int:
        return int(self.coef.size + self.intercept.size) if self.coef is not None else 0
