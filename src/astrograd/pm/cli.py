"""``astrograd pm``: particle-mesh runs with Gadget-style snapshots, and the image example."""

from __future__ import annotations

from pathlib import Path

import typer

from astrograd._cli_util import ProgressBar, check_out_folder, handle_errors, print_json

app = typer.Typer(help="Particle-mesh cosmological N-body.", no_args_is_help=True, add_completion=False)


def _parse_snapshots(text: str) -> list[float]:
    from astrograd._errors import InputError

    entries = text.split(",")
    if not any(s.strip() for s in entries):
        raise InputError("--snapshots is empty; give at least one scale factor, e.g. 0.5,1")
    if not all(s.strip() for s in entries):  # '0.5,,1' and '1,' were read as 0.5,1 and 1: a value left out?
        raise InputError(f"--snapshots {text!r} has an empty entry; give scale factors separated by single commas, "
                         "e.g. 0.5,1")
    try:
        values = [float(s) for s in entries]
    except ValueError:
        raise InputError(f"--snapshots {text!r} is not a comma-separated list of scale factors") from None
    repeated = sorted({s for s in values if values.count(s) > 1})
    if repeated:
        raise InputError(f"--snapshots {text!r} repeats the scale factor {repeated[0]:g}; give each one once")
    return values


@app.command()
# the library's checks name its parameters; reported with the options as typed
@handle_errors(options={"devices": "--devices", "omega_m": "--omega-m", "sigma8": "--sigma8",
                        "lpt_order": "--lpt-order"})
def run(
    ptcl_grid: int = typer.Option(64, "--ptcl-grid", help="Particles per axis (cubic grid)."),
    mesh_factor: int = typer.Option(2, "--mesh-factor", help="Mesh cells per particle per axis (integer >= 1)."),
    box: float = typer.Option(256.0, "--box", help="Box side in Mpc/h."),
    a_start: float = typer.Option(1 / 64, "--a-start", help="Scale factor of the LPT initial conditions."),
    steps: int = typer.Option(63, "--steps", help="Number of KDK steps (uniform in a; snapshot times are added)."),
    seed: int = typer.Option(0, "--seed", help="PRNG seed of the white noise."),
    omega_m: float = typer.Option(0.3, "--omega-m", help="Matter density Ω_m."),
    sigma8: float = typer.Option(0.8, "--sigma8", help="σ8 at a = 1."),
    lpt_order: int = typer.Option(2, "--lpt-order", help="1 (Zel'dovich) or 2."),
    snapshots: str = typer.Option("1", "--snapshots", help="Comma-separated scale factors of the snapshots, each "
                                  "once, from --a-start on (files in this order)."),
    out: Path = typer.Option(Path("outputs/pm_run"), "--out", help="Output directory."),
    plot: bool = typer.Option(False, "--plot", help="Write a projection and the power spectrum as PNG."),
    devices: int = typer.Option(
        1, "--devices", help="Split the N-body run over this many devices (GPUs; on a CPU, host devices made "
        "with XLA_FLAGS=--xla_force_host_platform_device_count=N). The particle count and the mesh's first two "
        "axes must be multiples of it."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Run a PM simulation and write Gadget-style HDF5 snapshots OUT/snapshot_000.h5, ..."""
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    from astrograd._errors import InputError, SimulationError, check_in_range, check_seed
    from astrograd.cosmo import growth_table, linear_power
    from astrograd.cosmo._growth import A_MAX, A_MIN
    from astrograd.pm._config import cli_config, cli_cosmology
    from astrograd.pm._lpt import linear_modes, lpt, white_noise
    from astrograd.pm._nbody import kdk_factors, nbody_snapshots
    from astrograd.pm._observables import density_mesh, power_spectrum, projection
    from astrograd.pm._snapshot import write_gadget_snapshot

    snaps = _parse_snapshots(snapshots)
    for s in snaps:
        check_in_range("--snapshots scale factor", s, A_MIN, A_MAX)
    check_in_range("--a-start", a_start, A_MIN, A_MAX)
    # checked here: the config would name a_stop (the last snapshot), not an option of this command
    for s in snaps:
        if s < a_start:
            raise InputError(f"--snapshots scale factor {s:g} is before --a-start = {a_start:g}")
    if max(snaps) <= a_start:
        raise InputError(f"--a-start = {a_start:g} is not allowed; it must be before the last snapshot "
                         f"{max(snaps):g}")
    cosmo = cli_cosmology(omega_m, sigma8)
    config = cli_config(ptcl_grid, mesh_factor, box, a_start, max(snaps), steps, lpt_order=lpt_order)
    # the power spectrum of the last snapshot needs a mode below the mesh's Nyquist frequency: a 2³
    # mesh (--ptcl-grid 2 --mesh-factor 1) gave empty arrays silently, and now power_spectrum refuses
    # it, which would come after the run and its snapshots: refused here, before the run
    if min(config.mesh_shape) < 3:
        raise InputError(f"--ptcl-grid {ptcl_grid} × --mesh-factor {mesh_factor} is not allowed: a mesh of "
                         f"{min(config.mesh_shape)}³ cells has no mode below its Nyquist frequency for the power "
                         "spectrum; it must have at least 3 cells per side (e.g. --mesh-factor 2)")
    # an --out that cannot be a folder fails before the run; the folder is made by the first
    # snapshot written (a bad --devices, found while the run is traced, left an empty one)
    check_out_folder(out)
    # snapshots of an earlier run with more of them would stay next to this run's and be read
    # as one series (yt: snapshot_*.h5): refused before the run, not deleted
    stale = sorted(p.name for p in out.glob("snapshot_[0-9][0-9][0-9].h5") if int(p.stem[-3:]) >= len(snaps))
    if stale:
        more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
        raise InputError(f"--out {str(out)!r} holds {stale[0]}{more} from an earlier run with more snapshots; "
                         "this run writes " + (f"snapshot_000.h5 to snapshot_{len(snaps) - 1:03d}.h5" if len(snaps) > 1
                                               else "snapshot_000.h5 only") + ": remove them or use another --out")
    split = None if devices == 1 else devices  # a bad count fails while `forward` is traced
    # a snapshot on a step of the uniform grid up to round-off (0.55 vs linspace's
    # 0.5499999999999999) replaces that step: it added a step of 1e-16 and one force evaluation
    grid = config.a_steps
    for s in snaps:
        i = int(np.argmin(np.abs(grid - s)))
        if abs(grid[i] - s) <= 1e-9 * s:
            grid[i] = s
    a_steps = np.unique(np.concatenate([grid, np.asarray(snaps)]))
    snap_steps = np.array([int(np.argmin(np.abs(a_steps - s))) for s in snaps])
    t0 = time.perf_counter()

    with ProgressBar(len(a_steps) - 1, "pm run (compiling, then KDK steps)", enabled=not json_out) as bar:

        @jax.jit
        def forward(key):
            table = growth_table(cosmo)
            noise = white_noise(key, config)
            disp, mom = lpt(linear_modes(noise, cosmo, config, table), cosmo, config, table)
            factors = kdk_factors(cosmo, config, table, a_steps=a_steps)
            return nbody_snapshots(disp, mom, factors, config, snap_steps, devices=split, on_step=bar.reach)

        bd, bp, bad_step, bad_ptcl = jax.block_until_ready(forward(jax.random.key(check_seed(seed, "--seed"))))
    seconds = time.perf_counter() - t0
    if int(bad_step) >= 0:
        q = np.asarray(config.lagrangian_positions())[int(bad_ptcl)]
        raise SimulationError(
            f"non-finite particle state at a = {a_steps[int(bad_step)]:.6g} (step {int(bad_step)}), "
            f"particle {int(bad_ptcl)} with Lagrangian position {q.tolist()} Mpc/h"
        )
    q = config.lagrangian_positions()
    files = []
    for i, a in enumerate(snaps):
        pos = np.asarray(q + bd[i])
        files.append(str(write_gadget_snapshot(out / f"snapshot_{i:03d}.h5", pos, np.asarray(bp[i]), a, cosmo, config)))
    last = int(np.argmax(snaps))
    pos_last = jnp.mod(q + bd[last], jnp.asarray(config.box_size))
    delta = density_mesh(pos_last, config.mesh_shape, config.box_size) - 1.0
    k, pk, nmodes = power_spectrum(delta, config.box_size)
    plin = np.asarray(linear_power(cosmo, jnp.asarray(k), snaps[last]))
    summary = {
        "snapshots": files,
        "scale_factors": snaps,
        "num_steps": int(len(a_steps) - 1),
        "seconds": seconds,
        "devices": devices,
        "power_spectrum": {"a": snaps[last], "k": k, "P": pk, "P_linear": plin, "num_modes": nmodes,
                           "shot_noise": config.volume / config.num_ptcl},
    }
    if plot:
        from astrograd.pm._plots import plot_images, plot_power

        img = np.asarray(projection(pos_last, config.box_size, 2, shape=config.mesh_shape[:2]))
        plot_images(out / "projection.png", [np.log10(1 + img)], [f"log10(1 + particles / pixel), a = {snaps[last]:g}"])
        plot_power(out / "power_spectrum.png", k, pk, plin, snaps[last])
        summary["figures"] = [str(out / "projection.png"), str(out / "power_spectrum.png")]
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"{len(files)} snapshot(s) in {out} ({seconds:.1f} s, {len(a_steps) - 1} steps)")


@app.command("fit-image")
# fit_image_to_dir checks every setting before it creates --out; its errors name the options as typed
@handle_errors(options={"views": "--views", "iterations": "--iterations", "learning_rate": "--lr",
                        "seed": "--seed", "text": "--text", "image": "--image",
                        "checkpoint_every": "--checkpoint-every"})
def fit_image_cmd(
    text: str = typer.Option(None, "--text", help="Text to draw (default 'pmwd' when no --image)."),
    image: Path = typer.Option(None, "--image", help="A picture file (PNG, JPEG) to draw instead of text "
                              "(default: none, the text)."),
    views: int = typer.Option(1, "--views", help="1: project along z; 2: along z and x at once."),
    iterations: int = typer.Option(100, "--iterations", help="Adam iterations."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (default 0.1 for 1 view, 0.02 for 2)."),
    seed: int = typer.Option(0, "--seed", help="PRNG seed of the starting white noise."),
    out: Path = typer.Option(Path("outputs/pm_fit_image"), "--out", help="Output directory."),
    checkpoint: bool = typer.Option(False, "--checkpoint", help="Save OUT/checkpoint.npz and resume from it."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="With --checkpoint: save every this many "
                                         "iterations (also at the end and on Ctrl-C)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Optimise the initial white noise so that the particles at a = 1 draw a text or a picture
    (pmwd's setup: 16×27×16 particles, 63 steps, 64×108 pixels of 2.5 Mpc/h)."""
    from astrograd._errors import InputError
    from astrograd.pm._image import fit_image_to_dir

    if text is not None and image is not None:  # the library would draw the image and ignore the text
        raise InputError("give either --text or --image, not both")
    learning_rate = (0.1 if views == 1 else 0.02) if lr is None else lr
    summary = fit_image_to_dir(out, text="pmwd" if text is None else text, image=image, views=views,
                               iterations=iterations, learning_rate=learning_rate, seed=seed, checkpoint=checkpoint,
                               checkpoint_every=checkpoint_every, progress=not json_out)
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"final loss {summary['final_loss']:.4f} after {iterations} iterations; figures in {out}")


@app.command("reconstruct")
# reconstruct_to_dir checks every setting before it creates --out; its errors name the options as typed
@handle_errors(options={"num_warmup": "--warmup", "num_samples": "--samples", "num_chains": "--chains",
                        "map_steps": "--map-steps", "seed": "--seed", "a_start": "--a-start", "a_stop": "--a-stop",
                        "sigma (the noise level of the data)": "--noise", "unknown dtype": "unknown --dtype",
                        "omega_m": "--omega-m", "sigma8": "--sigma8"})
def reconstruct_cmd(
    ptcl_grid: int = typer.Option(16, "--ptcl-grid", help="Particles per axis; the data mesh has one cell each."),
    mesh_factor: int = typer.Option(2, "--mesh-factor", help="Force-mesh cells per particle per axis (>= 1)."),
    box: float = typer.Option(256.0, "--box", help="Box side in Mpc/h."),
    a_start: float = typer.Option(1 / 16, "--a-start", help="Scale factor of the 2LPT initial conditions."),
    a_stop: float = typer.Option(1.0, "--a-stop", help="Scale factor of the observed density."),
    steps: int = typer.Option(10, "--steps", help="Number of KDK steps."),
    omega_m: float = typer.Option(0.3, "--omega-m", help="Matter density Ω_m."),
    sigma8: float = typer.Option(0.8, "--sigma8", help="σ8 at a = 1."),
    noise: float = typer.Option(0.2, "--noise", help="Gaussian noise σ on each cell's density contrast (> 0)."),
    data: Path = typer.Option(None, "--data", help="HDF5 file with the observed density contrast as dataset "
                              "'delta' (shape ptcl-grid³); default: a mock observation drawn from --seed."),
    map_steps: int = typer.Option(200, "--map-steps", help="L-BFGS iterations of the MAP search (>= 1)."),
    warmup: int = typer.Option(200, "--warmup", help="NUTS warm-up steps per chain (>= 1)."),
    samples: int = typer.Option(300, "--samples", help="NUTS draws per chain (>= 2)."),
    chains: int = typer.Option(2, "--chains", help="Chains, run one after the other (>= 1)."),
    seed: int = typer.Option(0, "--seed", help="PRNG seed (mock truth, its noise, the sampler)."),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32."),
    out: Path = typer.Option(Path("outputs/pm_reconstruct"), "--out", help="Output directory."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Infer the initial white noise behind a noisy density map at a_stop: Wiener filter of the
    linearised model, MAP through the whole PM model, and NUTS draws of the posterior.
    Writes OUT/reconstruct.h5 and OUT/reconstruct.png; rerun with the same options to resume.
    The defaults take about 17 minutes on 2 CPU cores (29 on a loaded machine); --ptcl-grid 8 --box 128 about 3."""
    # float64 only for --dtype float64: a float32 run keeps JAX's default precision at float32
    from astrograd._precision import x64
    from astrograd.pm._field import reconstruct_to_dir

    with x64(dtype == "float64"):
        s = reconstruct_to_dir(out, ptcl_grid=ptcl_grid, mesh_factor=mesh_factor, box=box, a_start=a_start,
                               a_stop=a_stop, steps=steps, omega_m=omega_m, sigma8=sigma8, noise=noise,
                               data_file=data, map_steps=map_steps, warmup=warmup, samples=samples, chains=chains,
                               seed=seed, dtype=dtype, progress=not json_out)
    typer.echo(f"{s['chains']} × {s['samples']} draws, {s['gradient_evaluations']} gradients in {s['seconds']:.0f} s; "
               f"posterior std {s['posterior_std_mean']:.3f} (linear theory {s['posterior_std_linear']:.3f}); "
               f"ESS min {s['ess_min']:.0f}, {s['divergences']} divergences"
               + (f"; 1σ coverage of the truth {s['coverage_1sigma']:.3f}" if "coverage_1sigma" in s else "")
               + f"; {s['plot']}")
    if json_out:
        print_json(s)
