# Loss surfaces of the one-neuron RNN of Pascanu, Mikolov & Bengio (2013):
# every surface of config/config.yaml for every preset, into Zarr, then figures.
from snakemake.utils import min_version

min_version("8.20")


# The default configuration, unless --configfile names another: that file then
# replaces it whole instead of being merged into it key by key.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The front page of `snakemake --report results/report.html`.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/compute.smk"
include: "workflow/rules/figures.smk"


# Every store and every figure of the configuration.
rule all:
    input:
        get_final_outputs(),
    default_target: True
