"""An exception of the project's own, as the components define them: its message is meant for the user."""


class StepFailed(RuntimeError):
    pass
