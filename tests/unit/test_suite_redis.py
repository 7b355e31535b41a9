def test_suite_redis_is_private_and_empty(redis_client, redis_server, streams_url):
    from django.conf import settings

    assert streams_url == settings.REDIS_URL
    assert redis_server.url == settings.QUEUE_REDIS_URL
    assert redis_server.port != 6379
    assert redis_client.dbsize() == 0
