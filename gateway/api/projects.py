"""Projects, time entries and tasks: forwarded to the projects service."""


class ProjectsApi:
    pass
