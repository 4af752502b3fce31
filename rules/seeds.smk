rule seeds:
    input:
        seed_inputs,
    output:
        "results/seeds/{source}.parquet",
    log:
        "logs/seeds/{source}.log",
    localrule: True
    conda:
        "../envs/seeds.yaml"
    params:
        spec=seed_spec,
    script:
        "../scripts/seeds.py"
