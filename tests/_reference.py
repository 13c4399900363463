"""Tiny, obviously correct references that the optimised code is tested against."""

import numpy as np


def greedy_l1_reference(X, components, alpha, rtol=1e-9, max_steps=1000):
    """The paper's greedy L1 pursuit, one sample at a time, dot products recomputed."""
    code = np.zeros((X.shape[0], components.shape[0]))
    for j, x in enumerate(X):
        residual = np.array(x, dtype=np.float64)
        for _ in range(max_steps):
            dots = components @ residual
            best = int(np.argmax(dots))
            coef = dots[best] - alpha / 2
            if coef <= rtol * alpha / 2:
                break
            code[j, best] += coef
            residual -= coef * components[best]
    return code


def objective(X, code, components, alpha):
    """mean_j ||x_j - code_j D||^2 + alpha ||code_j||_1"""
    residual = X - code @ components
    return float(((residual**2).sum(axis=1) + alpha * np.abs(code).sum(axis=1)).mean())


def unit_rows(rng, n_rows, n_features):
    D = rng.standard_normal((n_rows, n_features))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def assert_reports_close(actual, expected, rtol=1e-12):
    """Two metric reports agree key by key: scalars, per-atom arrays, intervals."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(
            np.asarray(actual[key], dtype=float),
            np.asarray(value, dtype=float),
            rtol=rtol,
            atol=1e-300,
            equal_nan=True,
            err_msg=key,
        )
