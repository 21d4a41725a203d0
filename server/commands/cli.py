"""The `fieldsync` command. Each command mirrors a Python API call."""

from __future__ import annotations

import click

from field_client.command_line.cli import register as register_field_client

from .admin import admin
from .demo import demo
from .failures import FieldsyncGroup
from .hub import hub
from .replicate import replicate
from .serve import serve


@click.group(cls=FieldsyncGroup)
@click.option(
    "--debug",
    is_flag=True,
    help="Show the Python traceback of an error instead of one line (to report a bug).",
)
@click.version_option(package_name="fieldsync")
def main(debug: bool) -> None:
    """fieldsync: offline-first field data for volunteer service teams. An error is one
    line and a non-zero exit (--debug for the traceback).
    离线优先的志愿服务现场数据系统。出错时显示一行说明并以非零状态退出。"""


main.add_command(admin)
main.add_command(demo)
main.add_command(hub)
main.add_command(replicate)
main.add_command(serve)
register_field_client(main)  # record, records, sync, status
