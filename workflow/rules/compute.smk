# A store's life in three steps: a metadata-only template, one job per tile writing
# its own chunks into it, and a last step that marks it complete and moves it in
# place. Template and tile marks are temporary; a tile whose mark exists is never
# recomputed, so an interrupted run resumes with the missing tiles only.
#
# A store that is a single tile takes the same three steps in one job
# (`build_store`): two processes fewer, and nothing to resume.


# Template and finalize only touch metadata: under a cluster executor they run
# where Snakemake runs, without waiting in a queue.
localrules:
    init_store,
    finalize_store,


rule build_store:
    input:
        job_file("{preset}", "{surface}"),
    output:
        directory("results/surfaces/{preset}/{surface}.zarr"),
    wildcard_constraints:
        surface=names_regex(SINGLE_TILE_SURFACES),
    params:
        job=get_job,
    threads: get_threads
    resources:
        mem_mb=get_compute_mem_mb,
        runtime=get_compute_runtime,
    log:
        "logs/build_store/{preset}/{surface}.log",
    benchmark:
        "logs/build_store/{preset}/{surface}.benchmark.tsv"
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape build --job {params.job:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


# The template: coordinates, attributes and chunk layout, no data.
rule init_store:
    input:
        job_file("{preset}", "{surface}"),
    output:
        temp(directory("results/surfaces/{preset}/{surface}.zarr.partial")),
    params:
        job=get_job,
    log:
        "logs/init_store/{preset}/{surface}.log",
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape init --job {params.job:q} --partial {output} > {log} 2>&1"


# One tile: Dask tasks over its chunks, written into the template's region.
rule compute_tile:
    input:
        "results/surfaces/{preset}/{surface}.zarr.partial",
    output:
        temp("results/surfaces/{preset}/{surface}.tiles/{tile}.done"),
    params:
        job=get_job,
    threads: get_threads
    resources:
        mem_mb=get_compute_mem_mb,
        runtime=get_compute_runtime,
    log:
        "logs/compute_tile/{preset}/{surface}/{tile}.log",
    # Wall time, CPU time and peak memory of the job, as Snakemake measures them.
    benchmark:
        "logs/compute_tile/{preset}/{surface}/{tile}.benchmark.tsv"
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape tile --job {params.job:q} --partial {input} --tile {wildcards.tile}"
        " --threads {threads} --done {output} > {log} 2>&1"


# Complete: consolidated metadata, the completion mark, one rename to the final path.
rule finalize_store:
    input:
        partial="results/surfaces/{preset}/{surface}.zarr.partial",
        tiles=get_tile_marks,
    output:
        directory("results/surfaces/{preset}/{surface}.zarr"),
    wildcard_constraints:
        surface=names_regex(MANY_TILE_SURFACES),
    params:
        # Here too, so that an edited surface reruns even once the temporary
        # template and marks are gone.
        job=get_job,
    log:
        "logs/finalize_store/{preset}/{surface}.log",
    conda:
        "../envs/rnn-landscape.yaml"
    shell:
        "rnn-landscape finalize --job {params.job:q} --partial {input.partial}"
        " --out {output} > {log} 2>&1"
