"""Checks Updraft's OpenLineage run events with OpenLineage's own Python client.

Reads a JSON list of events (argv[1]), rebuilds each with the client's models — whose
validators check run ids, times and URLs — and serialises it back with the client's
Serde: the result must equal what Updraft sent, facet for facet, including every
`_schemaURL` (which the models set themselves). Prints `ok N` or the first difference.
"""

import json
import sys

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde


def producer(facet):
    return {"producer": facet["_producer"]}


def run_facet(name, f):
    if name == "parent":
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=f["run"]["runId"]),
            job=parent_run.Job(namespace=f["job"]["namespace"], name=f["job"]["name"]),
            **producer(f),
        )
    if name == "errorMessage":
        return error_message_run.ErrorMessageRunFacet(
            message=f["message"], programmingLanguage=f["programmingLanguage"], **producer(f)
        )
    raise ValueError(f"unexpected run facet {name}")


def job_facet(name, f):
    if name == "jobType":
        return job_type_job.JobTypeJobFacet(
            processingType=f["processingType"],
            integration=f["integration"],
            jobType=f["jobType"],
            **producer(f),
        )
    raise ValueError(f"unexpected job facet {name}")


def dataset_facet(name, f):
    if name == "schema":
        fields = [
            schema_dataset.SchemaDatasetFacetFields(name=c["name"], type=c["type"])
            for c in f["fields"]
        ]
        return schema_dataset.SchemaDatasetFacet(fields=fields, **producer(f))
    if name == "version":
        return dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=f["datasetVersion"], **producer(f)
        )
    raise ValueError(f"unexpected dataset facet {name}")


def output_facet(name, f):
    if name == "outputStatistics":
        return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=f["rowCount"], **producer(f)
        )
    raise ValueError(f"unexpected output facet {name}")


def facets(kind, given):
    return {name: kind(name, f) for name, f in (given or {}).items()}


def rebuild(e):
    inputs = [
        InputDataset(namespace=d["namespace"], name=d["name"], facets=facets(dataset_facet, d.get("facets")))
        for d in e["inputs"]
    ]
    outputs = [
        OutputDataset(
            namespace=d["namespace"],
            name=d["name"],
            facets=facets(dataset_facet, d.get("facets")),
            outputFacets=facets(output_facet, d.get("outputFacets")),
        )
        for d in e["outputs"]
    ]
    return RunEvent(
        eventType=RunState(e["eventType"]),
        eventTime=e["eventTime"],
        run=Run(runId=e["run"]["runId"], facets=facets(run_facet, e["run"].get("facets"))),
        job=Job(
            namespace=e["job"]["namespace"],
            name=e["job"]["name"],
            facets=facets(job_facet, e["job"].get("facets")),
        ),
        inputs=inputs,
        outputs=outputs,
        producer=e["producer"],
    )


def drop_empty(obj):
    """Without empty maps and lists (the client adds `facets: {}` and `fields: []` where
    they are optional)."""
    if isinstance(obj, dict):
        return {k: drop_empty(v) for k, v in obj.items() if v not in ({}, [])}
    if isinstance(obj, list):
        return [drop_empty(v) for v in obj]
    return obj


def main():
    with open(sys.argv[1]) as f:
        events = json.load(f)
    for i, sent in enumerate(events):
        again = drop_empty(Serde.to_dict(rebuild(sent)))
        # The client drops nulls; so does the comparison.
        expected = drop_empty(Serde.remove_nulls_and_enums(sent))
        if again != expected:
            print(f"event {i} differs:\nsent:    {json.dumps(expected, sort_keys=True)}\nrebuilt: {json.dumps(again, sort_keys=True)}")
            sys.exit(1)
    print(f"ok {len(events)}")


main()
