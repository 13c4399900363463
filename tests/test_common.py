"""scikit-learn's own estimator checks on every estimator of the package."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfeatsparse.decomposition import GreedyL1DictionaryLearning


def _estimators():
    # Small, quick settings: the checks fit dozens of times on tiny data.
    return [GreedyL1DictionaryLearning(n_components=8, max_iter=5, random_state=0)]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
