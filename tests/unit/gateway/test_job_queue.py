"""The job queue (RQ through django-rq) on the suite's real redis-server, with no RQ worker: an
enqueued job has an ID, is listed newest first with its description and meta, and reads back
as "queued"; unknown or deleted jobs are NotFound or left out; the index stays capped; a
running job's progress lands in its meta."""

from __future__ import annotations

import json

import django_rq
import pytest
from rq.job import Job

from streams_app.errors import NotFound
from streams_app.gateway import job_queue
from streams_app.gateway.keys import jobs_index_key


def enqueue(n: int, **meta) -> str:
    return job_queue.job_enqueue(
        json.dumps, kwargs={"obj": [n]}, description=f"job {n}", meta={"kind": "export", "n": n, **meta}
    )


def test_an_enqueued_job_has_an_id_and_reads_back_queued_with_its_meta(queue_client):
    job_id = enqueue(1, owner="ana")

    record = job_queue.job_record(job_id)

    assert job_id and record.id == job_id
    assert record.state == "queued"
    assert record.description == "job 1"
    assert record.meta == {"kind": "export", "n": 1, "owner": "ana"}
    assert record.failure == ""


def test_recent_job_records_are_newest_first_and_at_most_limit(queue_client):
    ids = [enqueue(n) for n in range(3)]

    records = job_queue.recent_job_records(10)

    assert [record.id for record in records] == ids[::-1]
    assert [record.meta["n"] for record in records] == [2, 1, 0]
    assert all(record.state == "queued" for record in records)
    assert [record.id for record in job_queue.recent_job_records(2)] == ids[:0:-1]


def test_the_job_is_on_the_queue_for_a_worker_to_run_with_its_arguments(queue_client):
    job_id = enqueue(7)

    job = Job.fetch(job_id, connection=queue_client)
    assert job.origin == job_queue.QUEUE and django_rq.get_queue(job_queue.QUEUE).job_ids == [job_id]
    assert job.func is json.dumps and job.kwargs == {"obj": [7]}
    assert job.timeout == job_queue.JOB_TIMEOUT_SECONDS
    assert queue_client.zscore(jobs_index_key(), job_id) is not None


def test_the_record_of_an_unknown_job_is_not_found(queue_client):
    with pytest.raises(NotFound, match="no such job"):
        job_queue.job_record("no-such-job")


def test_jobs_rq_no_longer_has_are_left_out_of_the_recent_records(queue_client):
    kept, gone = enqueue(1), enqueue(2)
    Job.fetch(gone, connection=queue_client).delete()

    assert [record.id for record in job_queue.recent_job_records(10)] == [kept]
    with pytest.raises(NotFound):
        job_queue.job_record(gone)


def test_no_jobs_is_an_empty_list(queue_client):
    assert job_queue.recent_job_records(10) == []


def test_the_index_of_jobs_keeps_only_the_newest(queue_client, monkeypatch):
    monkeypatch.setattr(job_queue, "INDEX_SIZE", 3)
    ids = [enqueue(n) for n in range(5)]

    assert queue_client.zcard(jobs_index_key()) == 3
    assert [record.id for record in job_queue.recent_job_records(10)] == ids[:1:-1]


def test_outside_an_rq_worker_there_is_no_running_job(queue_client):
    assert job_queue.running_job() is None


def report_progress(done: int) -> str:
    """A job that keeps its progress in its meta, as the app's jobs do."""
    running = job_queue.running_job()
    assert running is not None
    running.save_meta({"done": done})
    return running.id


def test_a_running_jobs_progress_is_saved_in_its_meta_for_the_jobs_page(queue_client):
    job_id = job_queue.job_enqueue(report_progress, kwargs={"done": 5}, description="progress", meta={"kind": "x"})

    # Run in this process, as a worker would run it (no worker needed).
    assert Job.fetch(job_id, connection=queue_client).perform() == job_id

    assert job_queue.job_record(job_id).meta == {"kind": "x", "done": 5}
    assert job_queue.running_job() is None


@pytest.mark.parametrize("job_id", ["a:b", "x" * 300, "../x", "é", "a\x00b", "", "a b", "\udcff", "\ud800", "a/b"])
def test_an_id_no_rq_job_can_have_is_not_found_never_an_error(queue_client, job_id):
    enqueue(1)  # a job exists: "a:b" must not read back as another job ("a")

    with pytest.raises(NotFound, match="no such job"):
        job_queue.job_record(job_id)
    assert not job_queue.is_job_id(job_id)


def test_an_id_of_a_deleted_job_in_rqs_alphabet_is_not_found(queue_client):
    job_id = enqueue(1)
    assert job_queue.is_job_id(job_id)
    Job.fetch(job_id, connection=django_rq.get_queue("default").connection).delete()

    with pytest.raises(NotFound):
        job_queue.job_record(job_id)
