# One figure kind for one preset, drawn from stored surfaces only.
rule render_figure:
    input:
        get_figure_stores,
    output:
        multiext("results/figures/{preset}/{figure}", ".png", ".pdf"),
    params:
        options=get_figure_options,
        stores=lambda wildcards, input: " ".join(f"--store {path}" for path in input),
        outputs=lambda wildcards, output: " ".join(f"--out {path}" for path in output),
    log:
        "logs/render_figure/{preset}/{figure}.log",
    shell:
        "{RNN_LANDSCAPE} render {wildcards.figure} {params.stores}"
        " --options {params.options:q} {params.outputs} > {log} 2>&1"
