"""Fits the polynomials that kiln's JIT emits for f32 exp, log, tanh and erf (compiler/Transcendental.cpp).

Weighted least squares on Chebyshev nodes in f64 (numpy), minimising relative error; coefficients are then
rounded to f32. Run with /usr/bin/python3 (numpy); prints C++ constants and the fit's own max relative
error (in f64 arithmetic). The error bounds kiln documents are the ones tests/TranscendentalTest.cpp
measures on the emitted f32 code, not these.
"""
import math
import numpy as np


def cheb(a, b, n=4000):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit(x, y, basis, weight):
    A = np.stack([f(x) for f in basis], axis=1) * weight[:, None]
    c, *_ = np.linalg.lstsq(A, y * weight, rcond=None)
    c32 = c.astype(np.float32).astype(np.float64)
    approx = sum(ci * f(x) for ci, f in zip(c32, basis))
    return c32, float(np.max(np.abs(approx - y) * weight))


def show(name, coeffs, err):
    print(f"// {name}: max relative error of the fit {err:.2e}")
    print("  " + ", ".join(f"{c:.9g}f" for c in coeffs))


# exp(r) on [-ln2/2, ln2/2] as a polynomial of degree 6 in r.
r = cheb(-math.log(2) / 2, math.log(2) / 2)
c, e = fit(r, np.exp(r), [lambda x, k=k: x ** k for k in range(7)], 1 / np.exp(r))
show("exp: sum c_k r^k", c, e)

# log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as f + f^2 * q(f) with q of degree 8.
f = cheb(math.sqrt(0.5) - 1, math.sqrt(2) - 1)
f = f[np.abs(f) > 1e-6]
y = (np.log1p(f) - f) / f ** 2
c, e = fit(f, y, [lambda x, k=k: x ** k for k in range(9)], np.abs(f ** 2 / np.log1p(f)))
show("log: log1p(f) = f + f^2 * sum c_k f^k", c, e)

# tanh(x) for |x| <= 0.625 as x + x^3 * p(x^2), p of degree 4.
x = cheb(1e-4, 0.625)
y = (np.tanh(x) - x) / x ** 3
c, e = fit(x, y, [lambda t, k=k: (t * t) ** k for k in range(5)], np.abs(x ** 3 / np.tanh(x)))
show("tanh small: x + x^3 * sum c_k x^(2k)", c, e)

# erf(x) for |x| <= 1 as x * p(x^2), p of degree 6.
x = cheb(1e-4, 1.0)
c, e = fit(x, np.array([math.erf(v) for v in x]) / x, [lambda t, k=k: (t * t) ** k for k in range(7)], np.ones_like(x))
show("erf small: x * sum c_k x^(2k)", c, e)

# erfc(x) * exp(x^2) for x in [1, 4] as a polynomial of degree 9 in t = 1/x: erf = 1 - exp(-x^2) * q(1/x).
x = cheb(1.0, 4.0)
y = np.array([math.erfc(v) * math.exp(v * v) for v in x])
c, e = fit(1 / x, y, [lambda t, k=k: t ** k for k in range(10)], 1 / y)
show("erf large: 1 - exp(-x^2) * sum c_k (1/x)^k", c, e)
