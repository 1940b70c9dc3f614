"""The 95% Wilson score interval of the rate checks (punchlab-repeat.sh,
punchlab-predict.sh, tests/bench/predict-rate-lab.sh), worked out here
independently of punchlab's own; imported (PYTHONPATH=tests/lab/lib, with
PYTHONDONTWRITEBYTECODE=1 so that no __pycache__ lands in the tree), never
run on its own, so it lives below tests/lab/ where make labtest does not pick
it up."""
import math

Z95 = 1.959963984540054


def wilson95(k, n):
    """(lo, hi) of k successes in n runs; exactly 0 with none, 1 with all."""
    z = Z95
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (0.0 if k == 0 else mid - half), (1.0 if k == n else mid + half)
