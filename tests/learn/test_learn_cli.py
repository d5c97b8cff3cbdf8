"""`astrograd learn ...`: exit codes (bad input -> 2 with a one-line error) and a tiny run."""

import json

import pytest
from typer.testing import CliRunner

from astrograd.learn.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["sol-train", "--data", "/nonexistent/k.h5"], "does not exist"),
        (["sol-train", "--mode", "magic"], "mode"),
        (["sol-eval", "--data", "/nonexistent/k.h5"], "does not exist"),
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--factor", "0"], "factor"),
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--train-re", "1,x"], "--train-re"),
        (["control-train", "--n", "30"], "divisible"),
        (["control-train", "--checkpoint-every", "0", "--out", "/tmp/learn-cli-never.npz"],
         "checkpoint_every = 0"),
        (["control-eval", "--checkpoint", "/nonexistent/c.npz"], "does not exist"),
        # a seed outside int64 was an OverflowError traceback from jax.random.key
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--seed", str(2**64)],
         f"seed = {2**64} is not allowed; it must be an integer in [-2**63, 2**63 - 1]"),
        # --out a file: a FileExistsError traceback after the whole evaluation
        (["sol-eval", "--out", __file__], "is a file; give a folder for eval.h5 and the figures"),
        (["control-eval", "--out", __file__], "is a file; give a folder"),
        # options the mode does not use were accepted and ignored
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "supervised", "--unroll", "2"],
         "--unroll is not available for --mode supervised; it applies to --mode loop"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--unroll", "4"],
         "--unroll is not available for --mode none"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--init", "sup.npz"],
         "--init is not available for --mode none; it trains no network"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--checkpoint", "c.npz"],
         "--checkpoint is not available for --mode none"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.slow
def test_tiny_pipeline_through_the_cli(tmp_path):
    data = tmp_path / "k.h5"
    r = runner.invoke(
        app,
        [
            "karman-data",
            "--out",
            str(data),
            "--nx",
            "10",
            "--ny",
            "20",
            "--factor",
            "1",
            "--frames",
            "6",
            "--warmup",
            "2",
            "--train-re",
            "150",
            "--test-re",
            "80",
            "--no-progress",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    for mode in ("none", "supervised", "loop"):
        r = runner.invoke(
            app,
            [
                "sol-train",
                "--data",
                str(data),
                "--mode",
                mode,
                *(["--unroll", "2"] if mode == "loop" else []),  # refused by the other modes
                "--steps",
                "3",
                "--channels",
                "4",
                "--blocks",
                "1",
                "--out",
                str(tmp_path / f"{mode}.npz"),
                "--no-progress",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "sol-eval",
            "--data",
            str(data),
            "--checkpoint",
            str(tmp_path / "supervised.npz"),
            "--checkpoint",
            str(tmp_path / "loop.npz"),
            "--steps",
            "4",
            "--out",
            str(tmp_path / "ev"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(summary["mean_relative_l1"]) == {"none", "supervised", "loop-2"}
    assert (tmp_path / "ev" / "errors.png").exists()


def test_sol_eval_refuses_two_models_under_one_label(tmp_path):
    import jax

    from astrograd.learn._sol import make_corrector
    from astrograd.learn._train import save_model

    hyper = {"blocks": 1, "channels": 2, "kernel": 3, "reynolds_scale": 1000.0}
    meta = {"kind": "sol", "mode": "supervised", "unroll": 1, "hyper": hyper, "nx": 10, "ny": 20}
    paths = [str(save_model(tmp_path / f"m{i}.npz", make_corrector(hyper, jax.random.key(i)), meta)) for i in (1, 2)]
    # both were labelled "supervised" and the second replaced the first without a word
    r = runner.invoke(app, ["sol-eval", "--checkpoint", paths[0], "--checkpoint", paths[1]])
    assert r.exit_code == 2, r.output
    assert f"the label 'supervised' is already used by {paths[0]!r}; give LABEL=PATH" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # an explicit label "none" for a network was dropped: "none" is the uncorrected solver
    r = runner.invoke(app, ["sol-eval", "--checkpoint", f"none={paths[0]}"])
    assert r.exit_code == 2 and "the label 'none' is the uncorrected solver" in r.stderr
