rule seeds:
    input:
        seed_inputs,
    output:
        "results/seeds/{source}.parquet",
    params:
        spec=seed_spec,
    log:
        "logs/seeds/{source}.log",
    conda:
        "../envs/seeds.yaml"
    localrule: True
    script:
        "../scripts/seeds.py"
