"""The dictionary step: the gradient step from a sparse code (MOD is tested
through the estimator, tests/decomposition/test_dict_learning.py)."""

import numpy as np
import scipy.sparse as sp

from skfeatsparse.decomposition._dictionary_step import gradient_step


def _sparse_code(rng, n, m, density=0.1):
    code = sp.random(n, m, density=density, random_state=rng, format="csr")
    code.data = np.abs(code.data) + 0.1
    return code


def test_gradient_step_equals_the_dense_formula():
    # The step from the sparse code is D + (lr / L) C^T (X - C D) with L the
    # top eigenvalue of C^T C, computed here the plain dense way.
    rng = np.random.default_rng(0)
    code = _sparse_code(rng, 200, 40)
    code[:, 7] = 0  # an unused atom keeps its row
    code.eliminate_zeros()
    X = rng.standard_normal((200, 12))
    D = rng.standard_normal((40, 12))
    C = code.toarray()
    L = np.linalg.eigvalsh(C.T @ C).max()
    expected = D + (0.7 / L) * (C.T @ X - C.T @ C @ D)
    got = gradient_step(code, X, D.copy(), 0.7, n_iter=200)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got[7], D[7])


def test_gradient_step_lowers_the_least_squares_error():
    rng = np.random.default_rng(1)
    code = _sparse_code(rng, 300, 50, density=0.05)
    X = rng.standard_normal((300, 10))
    D = rng.standard_normal((50, 10))

    def error(D):
        return np.linalg.norm(X - code @ D) ** 2

    before = error(D)
    assert error(gradient_step(code, X, D.copy(), 1.0)) < before


def test_gradient_step_with_an_empty_code_changes_nothing():
    D = np.random.default_rng(2).standard_normal((5, 3))
    out = gradient_step(sp.csr_matrix((4, 5)), np.ones((4, 3)), D.copy(), 1.0)
    np.testing.assert_array_equal(out, D)
