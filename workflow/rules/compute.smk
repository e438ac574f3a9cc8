# One surface for one preset: Dask tasks over grid blocks, written to one Zarr store.
rule compute_surface:
    output:
        directory("results/surfaces/{preset}/{surface}.zarr"),
    params:
        job=get_job,
    threads: CONFIG.threads
    log:
        "logs/compute_surface/{preset}/{surface}.log",
    # Wall time, CPU time and peak memory of the job, as Snakemake measures them.
    benchmark:
        "logs/compute_surface/{preset}/{surface}.benchmark.tsv"
    shell:
        "{RNN_LANDSCAPE} compute --job {params.job} --threads {threads}"
        " --out {output} > {log} 2>&1"
