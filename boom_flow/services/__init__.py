"""The servers boom_flow talks to: the embedded local stack and health checks."""

from boom_flow.services.checks import CheckResult, run_doctor
from boom_flow.services.stack import LocalStack, ServiceStatus, StackError

__all__ = ["CheckResult", "LocalStack", "ServiceStatus", "StackError", "run_doctor"]
