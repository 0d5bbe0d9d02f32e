"""Where the player's records come from: a finished file (file.py), a file still being written
(follow.py) or a live run of the sampler (live.py), each a Source (source.py) delivering the
messages of messages.py from a worker thread."""
