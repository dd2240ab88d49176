"""What a backend raises when its model cannot answer."""


class BackendError(RuntimeError):
    """The model (its server) failed; the message says where and what happened, for a learner to read."""
