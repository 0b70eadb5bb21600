"""Operations: service state, health check, metrics."""

from screener.ops.metrics import CallMetrics, run_metrics_collector
from screener.ops.router import make_ops_router
from screener.ops.state import MqttState, ServiceState

__all__ = ["CallMetrics", "MqttState", "ServiceState", "make_ops_router", "run_metrics_collector"]
