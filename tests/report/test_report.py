"""The HTML report of a small real run, opened in headless Chromium: every category renders with its
figures, and the sample generations and removed documents are there to read."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, snakemake

# What each category must show: figures (PNG) and pages (HTML), by file name.
CATEGORIES = {
    "Prompts": ["prompt_mix.png"],
    "Generation": ["throughput.png"],
    "Curation": ["contamination.png"],
    "Diversity": ["diversity.png"],
    "Samples": ["samples.html"],
    "Provenance": ["removed_documents.html"],
    "Training": ["loss.png"],
    "Evaluation": ["eval.png"],
    "Dataset": ["dataset.html"],
}
# Where the screenshot goes: tmp, or the README's docs/report.png with REPORT_SCREENSHOT=docs/report.png.
SCREENSHOT_TO = os.environ.get("REPORT_SCREENSHOT")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]

# After the report's app has drawn: open each category, then each of its results, and write what
# the page showed into <pre id="probe">; finally leave `show` (a category and a result) on screen.
PROBE = """
<script>
const pause = (ms) => new Promise((done) => setTimeout(done, ms));
async function probe(show) {
  await pause(300);
  const seen = {};
  for (const category of Object.keys(categories)) {
    app.setView({navbarMode: "menu"});
    await pause(200);
    app.showCategory(category);
    await pause(400);
    const shown = {};
    for (const paths of Object.values(categories[category])) {
      for (const path of paths) {
        const entry = results[path];
        shown[path] = {listed: document.body.innerText.includes(path.split("/").pop()),
                       mime: entry.mime_type, bytes: entry.data_uri.length};
        if (entry.mime_type === "text/html") {
          shown[path].text = new TextDecoder().decode(
            Uint8Array.from(atob(entry.data_uri.split(",")[1]), (c) => c.charCodeAt(0)));
        }
      }
    }
    seen[category] = shown;
  }
  const [category, path] = show;
  app.setView({navbarMode: "menu"});
  await pause(200);
  app.showCategory(category);
  await pause(400);
  const entry = results[path];
  app.setView({content: entry.mime_type === "text/html" ? "html" : "img", contentPath: entry.data_uri,
               resultPath: path});
  await pause(300);
  const out = document.createElement("pre");
  out.id = "probe";
  out.style.display = "none";
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
}
window.addEventListener("load", () => probe(SHOW));
</script>
"""


def chromium() -> str:
    """Debian's Chromium, installed with apt-get when it is missing (as root)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is missing and installing it needs root (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    return shutil.which("chromium")


def small_config() -> dict:
    """The embedded default cut to three sources of one shard, short completions, a few training steps."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["sources"] = {
        "openstax": {**config["sources"]["openstax"], "shards": 1, "max_prompts": 3},
        "wikihow": {**config["sources"]["wikihow"], "max_prompts": 2},
        "ultrachat": {**config["sources"]["ultrachat"], "max_prompts": 2},
    }
    config["generation"]["sampling"]["max_tokens"] = 96
    config["generation"]["min_completion_tokens"] = 1
    config["train"]["mixture"] = {}
    config["train"]["runs"]["tiny"]["params"].update(steps=4, warmup_steps=1, micro_batch=2)
    config["evaluation"].update(tasks=["arc_easy"], max_samples=4)
    return config


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One small real run and its report: (workdir, report.html)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    (workdir / "config.yaml").write_text(yaml.safe_dump(small_config()))  # the copy's own config
    snakemake("--profile", "profiles/default", cwd=workdir)
    snakemake("--report", "report.html", cwd=workdir)
    return workdir, workdir / "report.html"


def open_report(report_html: Path, show: tuple[str, str], tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Open the report in headless Chromium; the probe's findings (category -> result -> what showed)."""
    probe_html = tmp_path / "probe.html"
    # The last </body> only: the report's own scripts hold the string too.
    head, _, tail = report_html.read_text(encoding="utf-8").rpartition("</body>")
    probe_html.write_text(head + PROBE.replace("SHOW", json.dumps(list(show))) + "</body>" + tail, encoding="utf-8")
    browser = chromium()
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
             "--window-size=1500,950"]
    dom = subprocess.run([browser, *flags, "--dump-dom", probe_html.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert 'id="probe"' in dom.stdout, dom.stderr[-2000:]
    found = json.loads(dom.stdout.split('id="probe"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0]
                       .replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&"))
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        shot = subprocess.run([browser, *flags, f"--screenshot={screenshot}", probe_html.as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert screenshot.exists(), shot.stderr[-2000:]
    return found


@pytest.mark.e2e
def test_report_shows_every_category_with_its_figures_and_sample_generations(report, tmp_path):
    workdir, report_html = report
    screenshot = ROOT / SCREENSHOT_TO if SCREENSHOT_TO else tmp_path / "report.png"
    found = open_report(report_html, ("Samples", "results/report/samples.html"), tmp_path, screenshot)
    for category, names in CATEGORIES.items():
        assert category in found, (category, sorted(found))
        shown = {path.split("/")[-1]: what for path, what in found[category].items()}
        for name in names:
            assert name in shown, (category, name, sorted(shown))
            assert shown[name]["listed"], (category, name)  # the category's menu lists it
            assert shown[name]["mime"] == ("image/png" if name.endswith(".png") else "text/html")
            assert shown[name]["bytes"] > (2000 if name.endswith(".png") else 500), (category, name)
    samples = found["Samples"]["results/report/samples.html"]["text"]
    assert "prompt_id" in samples and "request_key" in samples and "<details>" in samples
    assert samples.count("<tr>") >= 2  # a header and at least one sample generation
    removed = found["Provenance"]["results/report/removed_documents.html"]["text"]
    assert "Removed documents" in removed
    assert screenshot.stat().st_size > 20_000


@pytest.mark.e2e
def test_small_run_export_and_tables(report):
    import polars as pl

    workdir, _ = report
    tables = workdir / "results" / "tables"
    diversity = pl.read_csv(tables / "diversity.csv")
    dedup = pl.read_csv(tables / "dedup.csv")
    assert diversity["documents"].sum() == dedup["kept"].sum()  # the figures cover the dataset's rows
    assert diversity["near_duplicate_rate"].is_between(0, 1).all()
    export = workdir / "results" / "dataset"
    card = (export / "README.md").read_text()
    assert diversity["config_hash"][0] in card and "snakemake --profile profiles/default" in card
    # Every source config loads offline, with the dedup table's kept rows (a source with none is no config).
    code = ("import datasets, json, sys; print(json.dumps({name: len(datasets.load_dataset(sys.argv[1], name, "
            "split='train', cache_dir=sys.argv[2])) for name in datasets.get_dataset_config_names(sys.argv[1])}))")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    loaded = subprocess.run([sys.executable, "-c", code, str(export), str(workdir / "hf_cache")], env=env,
                            capture_output=True, text=True, check=True)
    kept = dict(dedup.select("source", "kept").iter_rows())
    expected = {source: kept[source] for source in small_config()["sources"] if kept.get(source)}
    assert json.loads(loaded.stdout) == {"all": sum(expected.values()), **expected}
