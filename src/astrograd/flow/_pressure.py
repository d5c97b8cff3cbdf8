"""Pressure projection: the discrete Poisson equation solved by Jacobi-preconditioned CG
(lineax; gradients by the implicit function theorem) or, on doubly periodic domains without
obstacles, exactly by FFT.

With φ = p Δt / ρ the projection is ``v ← v* − W ∇φ`` where ``W`` is 1 on open interior faces,
0 on faces touching a solid cell or a wall/inflow side, and 2 on an open (outflow) side, where
φ = 0 on the boundary face. ``φ`` solves ``Gᵀ W G φ = −div v*`` (symmetric positive
semi-definite), so the divergence left after projection equals minus the solver residual.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import lineax as lx

from astrograd.flow._grid import Boundaries, Grid
from astrograd.flow._ops import complete, divergence, gradient


def face_weights(solid, bc: Boundaries):
    """``(wx (ny, nx+1), wy (ny+1, nx))``: the weights ``W`` described in the module docstring."""
    fluid = 1.0 - solid
    if bc.periodic_x:
        wx = complete(fluid * jnp.roll(fluid, 1, axis=1), "x", bc)
    else:
        inner = fluid[:, 1:] * fluid[:, :-1]
        left = fluid[:, :1] * (2.0 if bc.left == "outflow" else 0.0)
        right = fluid[:, -1:] * (2.0 if bc.right == "outflow" else 0.0)
        wx = jnp.concatenate([left, inner, right], axis=1)
    if bc.periodic_y:
        wy = complete(fluid * jnp.roll(fluid, 1, axis=0), "y", bc)
    else:
        inner = fluid[1:] * fluid[:-1]
        bottom = fluid[:1] * (2.0 if bc.bottom == "outflow" else 0.0)
        top = fluid[-1:] * (2.0 if bc.top == "outflow" else 0.0)
        wy = jnp.concatenate([bottom, inner, top], axis=0)
    return wx, wy


def _poisson_parts(solid, grid: Grid, bc: Boundaries):
    """Operator ``φ ↦ dx dy (Gᵀ W G φ)`` on fluid cells (identity on solid and isolated cells),
    its diagonal, the fluid indicator and whether a gauge term is needed."""
    wx, wy = face_weights(solid, bc)
    scale = grid.dx * grid.dy
    diag = scale * ((wx[:, 1:] + wx[:, :-1]) / grid.dx**2 + (wy[1:] + wy[:-1]) / grid.dy**2)
    fluid = jnp.where(diag > 0, 1.0 - solid, 0.0)
    inactive = 1.0 - fluid
    gauge = not bc.has_outflow
    n_fluid = jnp.maximum(jnp.sum(fluid), 1.0)
    gauge_weight = jnp.mean(jnp.where(fluid > 0, diag, 0.0)) * fluid.size / n_fluid

    def matvec(phi):
        gx, gy = gradient(phi * fluid, grid, bc)
        out = -scale * divergence(wx * gx, wy * gy, grid) * fluid + inactive * phi
        if gauge:
            out = out + gauge_weight * fluid * jnp.sum(fluid * phi) / n_fluid
        return out

    full_diag = fluid * diag + inactive
    if gauge:
        full_diag = full_diag + gauge_weight * fluid / n_fluid
    return matvec, full_diag, fluid, gauge, (wx, wy)


def cg_solve(matvec, rhs, inv_diag, tol: float, max_steps: int, *, floor=0.0, y0=None):
    """Solve ``matvec(y) = rhs`` (symmetric positive definite, matrix-free) by Jacobi-
    preconditioned CG from lineax; derivatives by the implicit function theorem.

    Every solve (the primal, forward-mode tangents and reverse-mode adjoints, wired through
    ``jax.lax.custom_linear_solve``) is normalised by the largest entry of its own right-hand
    side and stops when every residual entry is ≤ tol·max|rhs| + tol·|rhs_i| + 100 eps max|rhs|
    (+ ``floor`` for the primal, an absolute round-off floor). lineax's own adjoint reuses the
    primal's absolute tolerance, which is meaningless for a cotangent of another scale.

    Returns ``(y, converged (bool scalar), num_steps (int32))`` for the primal solve. An adjoint
    or tangent solve that does not converge returns NaN (so a gradient is never silently wrong).
    """
    eps = float(jnp.finfo(rhs.dtype).eps)
    structure = jax.ShapeDtypeStruct(rhs.shape, rhs.dtype)
    # CG is invariant under scaling of the preconditioner; lineax declares a breakdown when
    # pᵀAp < 100·eps·size·pᵀMr, which a well-posed float32 Poisson problem on a large grid
    # violates (its smallest eigenvalue is ~1/n²), so the preconditioner is scaled up.
    boost = max(1e3 * eps * rhs.size * max(rhs.shape) ** 2, 1.0)
    precond = lx.TaggedLinearOperator(
        lx.DiagonalLinearOperator(boost * inv_diag), (lx.symmetric_tag, lx.positive_semidefinite_tag)
    )

    def make_solve(primal: bool):
        def solve(mv, b):
            scale = jnp.max(jnp.abs(b))
            safe = jnp.where(scale > 0, scale, 1.0)
            atol = tol + 100 * eps + (floor / safe if primal else 0.0)
            op = lx.FunctionLinearOperator(mv, structure, tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))
            options = {"preconditioner": precond}
            if primal and y0 is not None:
                options["y0"] = y0 / safe
            sol = lx.linear_solve(
                op, b / safe, lx.CG(rtol=tol, atol=atol, max_steps=max_steps), options=options, throw=False
            )
            ok = (sol.result == lx.RESULTS.successful) | (scale == 0)
            y = jnp.where(scale > 0, sol.value * safe, 0.0)
            if not primal:
                y = jnp.where(ok, y, jnp.nan)
            return y, (ok, jnp.asarray(sol.stats["num_steps"], jnp.int32))

        return solve

    y, (ok, steps) = jax.lax.custom_linear_solve(
        matvec, rhs, make_solve(True), make_solve(False), symmetric=True, has_aux=True
    )
    return y, ok, steps


def solve_pressure_cg(vx, vy, solid, grid: Grid, bc: Boundaries, tol: float, max_steps: int, phi0=None):
    """Solve for φ (``(ny, nx)``, units length²/time) with preconditioned CG (:func:`cg_solve`).

    Convergence: every cell's residual ≤ tol·(max|b| + |b_i|) + 100 eps (max|b| + dx dy
    (1/dx + 1/dy) max|v*|) with ``b = −dx dy div v*`` (eps: machine epsilon of the dtype);
    the last term is the round-off level of an already solenoidal v*.
    Returns ``(phi, converged (bool scalar), num_steps (int32), weights)``.
    """
    matvec, diag, fluid, gauge, weights = _poisson_parts(solid, grid, bc)
    rhs = -grid.dx * grid.dy * divergence(vx, vy, grid) * fluid
    if gauge:
        rhs = rhs - fluid * jnp.sum(rhs) / jnp.maximum(jnp.sum(fluid), 1.0)
    eps = float(jnp.finfo(rhs.dtype).eps)
    speed = jnp.maximum(jnp.max(jnp.abs(vx)), jnp.max(jnp.abs(vy)))
    floor = jax.lax.stop_gradient(100 * eps * grid.dx * grid.dy * (1 / grid.dx + 1 / grid.dy) * speed)
    y0 = None if phi0 is None else jax.lax.stop_gradient(phi0)
    phi, converged, steps = cg_solve(matvec, rhs, 1.0 / diag, tol, max_steps, floor=floor, y0=y0)
    return phi, converged, steps, weights


def solve_pressure_fft(vx, vy, grid: Grid):
    """Exact solution of the discrete Poisson equation on a doubly periodic domain without
    obstacles (eigenvalues of the five-point Laplacian). Returns φ ``(ny, nx)`` with zero mean."""
    rhs = -divergence(vx, vy, grid)
    # the eigenvalues in the field's float type (default-float ones made a float32 state float64 under x64)
    kx = 2 * jnp.pi * jnp.fft.fftfreq(grid.nx, dtype=rhs.dtype)
    ky = 2 * jnp.pi * jnp.fft.fftfreq(grid.ny, dtype=rhs.dtype)
    lam = (2 - 2 * jnp.cos(kx))[None, :] / grid.dx**2 + (2 - 2 * jnp.cos(ky))[:, None] / grid.dy**2
    lam = lam.at[0, 0].set(1.0)
    phi_hat = jnp.fft.fft2(rhs) / lam
    phi_hat = phi_hat.at[0, 0].set(0.0)
    return jnp.real(jnp.fft.ifft2(phi_hat)).astype(rhs.dtype)


def project(vx, vy, phi, weights, grid: Grid, bc: Boundaries):
    """Subtract ``W ∇φ`` from the face velocities."""
    wx, wy = weights
    gx, gy = gradient(phi, grid, bc)
    return vx - wx * gx, vy - wy * gy
