# Gradient descent from the configured starts, plain and clipped, for one preset.
rule descend:
    input:
        settings_file("{preset}"),
    output:
        directory("results/trajectories/{preset}.zarr"),
    params:
        settings=get_descent,
    resources:
        mem_mb=get_light_mem_mb,
        runtime=get_light_runtime,
    log:
        "logs/descend/{preset}.log",
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape descend --settings {params.settings:q} --out {output} > {log} 2>&1"


# The walls found on a surface, with their distance to the predicted curves.
rule export_walls:
    input:
        "results/surfaces/{preset}/{surface}.zarr",
    output:
        "results/walls/{preset}/{surface}.csv",
    resources:
        mem_mb=get_light_mem_mb,
        runtime=get_light_runtime,
    log:
        "logs/export_walls/{preset}/{surface}.log",
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape walls {input} --out {output} > {log} 2>&1"


# One figure kind for one preset, drawn from stored surfaces only. In the report
# (snakemake --report) each preset is a category and each figure kind in it a
# subcategory, PNG and PDF side by side; the caption names what to look for.
rule render_figure:
    input:
        get_figure_stores,
    output:
        [
            report(
                f"results/figures/{{preset}}/{{figure}}.{extension}",
                caption="../report/figure.rst",
                category="{preset}",
                subcategory="{figure}",
                labels={
                    "figure": "{figure}",
                    "preset": "{preset}",
                    "format": FORMAT_NAMES[extension],
                },
            )
            for extension in FIGURE_FORMATS
        ],
    params:
        options=get_figure_options,
        stores=lambda wildcards, input: " ".join(f"--store {path}" for path in input),
        outputs=lambda wildcards, output: " ".join(f"--out {path}" for path in output),
    resources:
        mem_mb=get_light_mem_mb,
        runtime=get_light_runtime,
    log:
        "logs/render_figure/{preset}/{figure}.log",
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape render {wildcards.figure} {params.stores}"
        " --options {params.options:q} {params.outputs} > {log} 2>&1"
