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


def solve_pressure_cg(vx, vy, solid, grid: Grid, bc: Boundaries, tol: float, max_steps: int, phi0=None):
    """Solve for φ (``(ny, nx)``, units length²/time) with preconditioned CG.

    Convergence: every cell's residual ≤ tol·(max|b| + |b_i|) with ``b = −dx dy div v*``.
    Returns ``(phi, converged (bool scalar), num_steps (int32), weights)``.
    """
    matvec, diag, fluid, gauge, weights = _poisson_parts(solid, grid, bc)
    rhs = -grid.dx * grid.dy * divergence(vx, vy, grid) * fluid
    if gauge:
        rhs = rhs - fluid * jnp.sum(rhs) / jnp.maximum(jnp.sum(fluid), 1.0)
    structure = jax.ShapeDtypeStruct(rhs.shape, rhs.dtype)
    operator = lx.FunctionLinearOperator(
        matvec, structure, tags=(lx.symmetric_tag, lx.positive_semidefinite_tag)
    )
    # CG is invariant under scaling of the preconditioner; lineax declares a breakdown when
    # pᵀAp < 100·eps·size·pᵀMr, which a well-posed float32 Poisson problem on a large grid
    # violates (its smallest eigenvalue is ~1/n²), so the preconditioner is scaled up.
    boost = 1e3 * float(jnp.finfo(rhs.dtype).eps) * rhs.size * max(grid.nx, grid.ny) ** 2
    precond = lx.DiagonalLinearOperator(max(boost, 1.0) / diag)
    precond = lx.TaggedLinearOperator(precond, (lx.symmetric_tag, lx.positive_semidefinite_tag))
    atol = tol * jax.lax.stop_gradient(jnp.max(jnp.abs(rhs))) + jnp.finfo(rhs.dtype).tiny
    solver = lx.CG(rtol=tol, atol=atol, max_steps=max_steps)
    options = {"preconditioner": precond}
    if phi0 is not None:
        options["y0"] = jax.lax.stop_gradient(phi0)
    sol = lx.linear_solve(operator, rhs, solver, options=options, throw=False)
    converged = sol.result == lx.RESULTS.successful
    return sol.value, converged, sol.stats["num_steps"], weights


def solve_pressure_fft(vx, vy, grid: Grid):
    """Exact solution of the discrete Poisson equation on a doubly periodic domain without
    obstacles (eigenvalues of the five-point Laplacian). Returns φ ``(ny, nx)`` with zero mean."""
    rhs = -divergence(vx, vy, grid)
    kx = 2 * jnp.pi * jnp.fft.fftfreq(grid.nx)
    ky = 2 * jnp.pi * jnp.fft.fftfreq(grid.ny)
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
