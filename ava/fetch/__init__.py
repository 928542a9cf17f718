"""python -m ava.fetch: collect ads, their audiences and their media from the Meta Ad Library API (``ads_archive``).

``stage=ads`` (:mod:`ava.fetch.crawl`) crawls the API into ``OUT/ads.jsonl``; ``stage=media``
(:mod:`ava.fetch.media`) renders each ad's snapshot page in headless Chromium and saves its images and videos
under ``OUT/media/``. The output is the manifest ``ava.verbalize`` and ``ava.build_dataset`` read.
"""
