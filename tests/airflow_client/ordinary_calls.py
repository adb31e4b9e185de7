"""Ordinary calls of Airflow's own Python client (apache-airflow-client 3.3) against
Updraft, as a script written only against that client's documentation would make them.
Every answer goes through the client's model validation; any mismatch raises.

Arguments: the server's base URL, an operator token, a viewer token, the DAGs folder.
"""
import datetime
import json
import sys
import time
import urllib.request

import airflow_client.client as client
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.dag_source_api import DagSourceApi
from airflow_client.client.api.dag_stats_api import DagStatsApi
from airflow_client.client.api.import_error_api import ImportErrorApi
from airflow_client.client.api.monitor_api import MonitorApi
from airflow_client.client.api.task_api import TaskApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.version_api import VersionApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.exceptions import ForbiddenException
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.dag_run_clear_body import DAGRunClearBody
from airflow_client.client.models.dag_run_patch_body import DAGRunPatchBody
from airflow_client.client.models.dag_runs_batch_body import DAGRunsBatchBody
from airflow_client.client.models.patch_task_instance_body import PatchTaskInstanceBody
from airflow_client.client.models.task_instances_batch_body import TaskInstancesBatchBody
from airflow_client.client.models.task_instance_response import TaskInstanceResponse
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody
from openapi_spec_validator import validate as validate_openapi

base, operator_token, viewer_token, dags_folder = sys.argv[1:5]


def api(token):
    return client.ApiClient(client.Configuration(host=base, access_token=token))


op, viewer = api(operator_token), api(viewer_token)

# The server's OpenAPI document is valid OpenAPI 3.1.
with urllib.request.urlopen(f"{base}/api/v2/openapi.json") as answer:
    document = json.load(answer)
assert document["openapi"] == "3.1.0", document["openapi"]
validate_openapi(document)

health = MonitorApi(viewer).get_health()
assert health.metadatabase.status == "healthy", health
assert health.scheduler.status == "healthy", health
assert health.triggerer.status is None, health

dags = DAGApi(viewer).get_dags(limit=10, offset=0)
assert dags.total_entries == 1 and dags.dags[0].dag_id == "flaky", dags
dag = DAGApi(viewer).get_dag("flaky")
assert dag.fileloc.endswith("flaky.yaml") and dag.tags[0].name == "demo", dag
assert dag.dag_display_name == "Flaky one" and dag.owners == ["data-team"], dag
assert ImportErrorApi(viewer).get_import_errors().total_entries == 0
details = DAGApi(viewer).get_dag_details("flaky")
assert details.catchup is False and details.latest_dag_version.version_number == 1, details
tasks = TaskApi(viewer).get_tasks("flaky")
shown = [(t.task_id, t.operator_name, t.downstream_task_ids) for t in tasks.tasks]
assert shown == [("boom", "shell", ["after"]), ("after", "noop", [])], shown
source = DagSourceApi(viewer).get_dag_source("flaky")
assert "dag_id: flaky" in source.content and source.version_number == 1, source
assert VersionApi(viewer).get_version().version, "a version"

# Trigger with a conf, and wait for the run to end.
body = TriggerDAGRunPostBody(dag_run_id="from_client", logical_date=None, conf={"n": 1})
run = DagRunApi(op).trigger_dag_run("flaky", body)
assert run.dag_run_id == "from_client" and run.conf == {"n": 1}, run
deadline = time.time() + 60
while run.state.value not in ("success", "failed"):
    assert time.time() < deadline, run
    time.sleep(0.5)
    run = DagRunApi(viewer).get_dag_run("flaky", "from_client")
assert run.state.value == "failed", run
assert run.start_date and run.end_date and run.run_type.value == "manual", run
assert run.dag_display_name == "Flaky one", run
page = DagRunApi(viewer).get_dag_runs("flaky", limit=1, offset=0)
assert page.total_entries == 1 and page.dag_runs[0].dag_run_id == "from_client", page
everywhere = DagRunApi(viewer).get_dag_runs("~", state=["failed"], run_type=["manual"])
assert [r.dag_run_id for r in everywhere.dag_runs] == ["from_client"], everywhere
later = run.logical_date + datetime.timedelta(seconds=1)
assert DagRunApi(viewer).get_dag_runs("flaky", logical_date_gte=later).total_entries == 0
assert DagRunApi(viewer).get_dag_runs("flaky", logical_date_lte=later).total_entries == 1
newest = DagRunApi(viewer).get_dag_runs("flaky", order_by=["-start_date"])
assert newest.dag_runs[0].dag_run_id == "from_client", newest
batch = DagRunApi(viewer).get_list_dag_runs_batch(
    "~", DAGRunsBatchBody(dag_ids=["flaky"], states=["failed"], page_limit=10)
)
assert [r.dag_run_id for r in batch.dag_runs] == ["from_client"], batch
picked = DagRunApi(viewer).get_dag_runs(
    "~", dag_id_pattern="FLA", run_id_prefix_pattern="from_", conf_contains='"n":1',
    duration_gte=0, run_after_lte=later, dag_version=[1],
)
assert [r.dag_run_id for r in picked.dag_runs] == ["from_client"], picked
assert DagRunApi(viewer).get_dag_runs("~", run_id_prefix_pattern="From").total_entries == 0
assert DagRunApi(viewer).get_dag_runs("~", dag_id_pattern="nope|other").total_entries == 0
assert DagRunApi(viewer).get_dag_runs("flaky", duration_gte=3600).total_entries == 0
assert DagRunApi(viewer).get_dag_runs("flaky", dag_version=[2]).total_entries == 0
stats = DagStatsApi(viewer).get_dag_stats(dag_ids=["flaky"])
counts = {s.state.value: s.count for s in stats.dags[0].stats}
assert counts == {"queued": 0, "running": 0, "success": 0, "failed": 1}, counts

tis = TaskInstanceApi(viewer).get_task_instances("flaky", "from_client")
states = {t.task_id: t.state.value if t.state else None for t in tis.task_instances}
assert states == {"boom": "failed", "after": "upstream_failed"}, states
failed = TaskInstanceApi(viewer).get_task_instances("~", "~", state=["failed"])
assert [(t.dag_id, t.task_id) for t in failed.task_instances] == [("flaky", "boom")], failed
page = TaskInstanceApi(viewer).get_task_instances("flaky", "from_client", limit=1, offset=1)
assert page.total_entries == 2 and [t.task_id for t in page.task_instances] == ["boom"], page
batch = TaskInstanceApi(viewer).get_task_instances_batch(
    "~", "~", TaskInstancesBatchBody(dag_ids=["flaky"], task_ids=["after"])
)
assert [t.state.value for t in batch.task_instances] == ["upstream_failed"], batch
boom = TaskInstanceApi(viewer).get_task_instance("flaky", "from_client", "boom")
assert boom.map_index == -1 and boom.pool == "default_pool" and boom.operator == "shell", boom
assert (boom.try_number, boom.max_tries) == (1, 0), boom  # no retries, as Airflow counts
assert boom.dag_display_name == "Flaky one", boom

tries = TaskInstanceApi(viewer).get_task_instance_tries("flaky", "from_client", "boom")
assert [(t.try_number, t.state.value) for t in tries.task_instances] == [(1, "failed")], tries

# The failed task's log, page by page as the client reads it.
log = TaskInstanceApi(viewer).get_log("flaky", "from_client", "boom", 1)
lines = [m.event for m in log.content.actual_instance]
assert any("exited with code 3" in line for line in lines), lines
rest = TaskInstanceApi(viewer).get_log(
    "flaky", "from_client", "boom", 1, token=log.continuation_token
)
assert rest.content.actual_instance == [], rest

# A viewer may read but not clear.
clear = DAGRunClearBody(dry_run=True, only_failed=True)
try:
    DagRunApi(viewer).clear_dag_run("flaky", "from_client", clear)
    raise AssertionError("a viewer cleared a run")
except ForbiddenException:
    pass
# The client's own model of a dry run's items (one of NewTaskResponse or
# TaskInstanceResponse) takes any full task instance for both and refuses it, so the
# answer is read raw and each item checked against TaskInstanceResponse.
raw = DagRunApi(op).clear_dag_run_without_preload_content("flaky", "from_client", clear)
assert raw.status == 200, raw.data
would = json.loads(raw.data)
ids = sorted(TaskInstanceResponse.from_dict(t).task_id for t in would["task_instances"])
assert ids == ["after", "boom"], would
cleared = DagRunApi(op).clear_dag_run(
    "flaky", "from_client", DAGRunClearBody(dry_run=False, only_failed=True)
)
assert cleared.actual_instance.dag_run_id == "from_client", cleared

# A task added to the DAG, and only it run in the finished run (Airflow's only_new).
with open(f"{dags_folder}/flaky.yaml", "a") as dag_file:
    dag_file.write("  extra: {type: shell, with: {command: 'echo n=7 >> $UPDRAFT_OUTPUT'}}\n")
time.sleep(1.5)  # the server reads the folder again at most once a second
new = DagRunApi(op).clear_dag_run(
    "flaky", "from_client", DAGRunClearBody(dry_run=True, only_new=True)
)
assert [t.actual_instance.task_id for t in new.actual_instance.task_instances] == ["extra"], new
DagRunApi(op).clear_dag_run("flaky", "from_client", DAGRunClearBody(dry_run=False, only_new=True))
deadline = time.time() + 60
while True:
    extra = [
        t for t in TaskInstanceApi(viewer).get_task_instances("flaky", "from_client").task_instances
        if t.task_id == "extra"
    ]
    if extra and extra[0].state and extra[0].state.value == "success":
        break
    assert time.time() < deadline, extra
    time.sleep(0.5)
boom = TaskInstanceApi(viewer).get_task_instance("flaky", "from_client", "boom")
assert boom.state.value == "failed" and boom.try_number == 2, boom  # cleared once above, not again

# What a task handed on (its outputs), as XCom entries: one per output, metrics included,
# and `return_value` for all of them.
xcoms = XComApi(viewer).get_xcom_entries(dag_id="flaky", dag_run_id="from_client", task_id="extra")
keys = [x.key for x in xcoms.xcom_entries]
assert keys[0] == "return_value" and {"n", "exit_code"} <= set(keys), keys
assert xcoms.total_entries == len(keys) and xcoms.xcom_entries[0].map_index == -1, xcoms
def xcom(key, **options):
    return XComApi(viewer).get_xcom_entry(
        dag_id="flaky", dag_run_id="from_client", task_id="extra", xcom_key=key, **options
    )


n = xcom("n")
assert n.actual_instance.value == 7, n
whole = xcom("return_value")
assert whole.actual_instance.value["n"] == 7, whole
text = xcom("n", stringify=True)
assert text.actual_instance.value == "7", text

# A mapped task (`for_each`), added and run the same way: its instances, as the client
# lists and reads them.
with open(f"{dags_folder}/flaky.yaml", "a") as dag_file:
    dag_file.write("  fan: {type: noop, for_each: [a, b, c]}\n")
time.sleep(1.5)
DagRunApi(op).clear_dag_run("flaky", "from_client", DAGRunClearBody(dry_run=False, only_new=True))
deadline = time.time() + 60
while True:
    mapped = TaskInstanceApi(viewer).get_mapped_task_instances("flaky", "from_client", "fan")
    states = [t.state.value if t.state else None for t in mapped.task_instances]
    if mapped.total_entries == 3 and states == ["success"] * 3:
        break
    assert time.time() < deadline, mapped
    time.sleep(0.5)
assert [t.map_index for t in mapped.task_instances] == [0, 1, 2], mapped
second = TaskInstanceApi(viewer).get_mapped_task_instance("flaky", "from_client", "fan", 1)
assert second.map_index == 1 and second.rendered_map_index == "1", second

# Notes, as a person writes them on a run and on a task instance.
noted = DagRunApi(op).patch_dag_run(
    "flaky", "from_client", DAGRunPatchBody(note="boom fails on purpose")
)
assert noted.note == "boom fails on purpose" and noted.state.value == "failed", noted
assert DagRunApi(viewer).get_dag_run("flaky", "from_client").note == "boom fails on purpose"
marked = TaskInstanceApi(op).patch_task_instance(
    "flaky", "from_client", "boom", PatchTaskInstanceBody(note="exit 3 is expected")
)
assert [(t.task_id, t.note) for t in marked.task_instances] == [("boom", "exit 3 is expected")]
assert marked.task_instances[0].state.value == "failed", marked  # a note alone marks nothing
try:
    DagRunApi(viewer).patch_dag_run("flaky", "from_client", DAGRunPatchBody(note="mine"))
    raise AssertionError("a viewer wrote a note")
except ForbiddenException:
    pass

# Pause and unpause.
assert DAGApi(op).patch_dag("flaky", DAGPatchBody(is_paused=True)).is_paused is True
assert DAGApi(op).patch_dag("flaky", DAGPatchBody(is_paused=False)).is_paused is False
print("ok")
