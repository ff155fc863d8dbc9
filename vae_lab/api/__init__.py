"""The Python API: train in this process, load a run, and use its model from a notebook or a script.

    import vae_lab
    results = vae_lab.train(["data=ring", "likelihood=gaussian", "trainer.max_epochs=5"])
    run = vae_lab.load_run(results["run_dir"])          # a run directory or a .ckpt file
    mean, log_var = run.encode(x)                       # q(z|x)
    x_mean = run.decode(mean)                           # E[x|z]
    images = run.sample(64)                             # prior draws, decoded
    run.log_likelihood("test", num_samples=1000)        # what `vae-lab eval` reports, per example
    report = run.evaluate("test")                       # what `vae-lab eval` writes to eval.json
    table = vae_lab.fit_table(frame)                    # a table model of a DataFrame (kept in its run directory)
    rows = table.sample_table(100); filled = table.impute(frame)   # DataFrames in and out
    vae_lab.figure([results["run_dir"]], "latents.png")  # what `vae-lab figure` draws

Every ``vae-lab`` command is a thin adapter over these functions (``vae_lab.commands``); multiruns (``-m``) stay the CLI's.
"""

from vae_lab.api.figure import figure
from vae_lab.api.run import Run, load_run
from vae_lab.api.training import fit, fit_table, train

__all__ = ["Run", "figure", "fit", "fit_table", "load_run", "train"]
