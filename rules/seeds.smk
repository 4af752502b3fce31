rule seeds:
    input:
        unpack(seed_files),
    output:
        "results/seeds/{source}.parquet",
    log:
        "logs/seeds/{source}.log",
    localrule: True
    conda:
        "../envs/seeds.yaml"
    params:
        spec=lambda wildcards: source_settings(config, wildcards.source),
        reads=seed_reads,
    script:
        "../scripts/seeds.py"
