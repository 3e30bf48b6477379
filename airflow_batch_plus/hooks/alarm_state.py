"""AlarmStateHook: whether a cost alarm still holds, asked of the service that raised it.

The cost alarm DAG cancels queued jobs at once but terminates running ones only if the alarm still holds
after the user's grace (the AWS blog's policy): a wrong terminate cannot be undone, so "still" is asked of
AWS, never assumed from the message.

- A CloudWatch alarm: DescribeAlarms (metric and composite alarms); still means its StateValue is ALARM.
  An alarm CloudWatch no longer knows is not still in ALARM.
- An AWS Budgets notification: Budgets sends no OK message, so there is nothing to wait for. Still means
  DescribeNotificationsForBudget shows a notification of the same type (ACTUAL or FORECASTED) in state ALARM;
  one in state OK (the budget was raised, or a new period began) means not still. When Budgets reports no
  state for any of them, the threshold was crossed and nobody said otherwise: still (docs/cost-alarms.md).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from airflow_batch_plus.alarms import ALARM, AlarmSource, CostAlarm
from airflow_batch_plus.hooks.base import BaseBatchPlusHook


class AlarmStateHook(BaseBatchPlusHook):
    """CloudWatch's and AWS Budgets' view of an alarm, through the amazon provider's `aws` connection."""

    default_client_type = "cloudwatch"

    def cloudwatch(self, region_name: str | None = None) -> Any:
        """A CloudWatch client of the alarm's region (its ARN's), else the hook's."""
        if region_name is None or region_name == self.region:
            return self.conn
        return self.get_client_type(region_name=region_name)

    def budgets(self) -> Any:
        """A Budgets client through the same session, config and connection endpoints (Budgets is global)."""
        return self.get_session(self.region_name).client(
            "budgets",
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name="budgets"),
            config=self.config,
            verify=self.verify,
        )

    def caller_account(self) -> str:
        """The account of the connection's credentials (STS GetCallerIdentity)."""
        sts = self.get_session(self.region_name).client(
            "sts",
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name="sts"),
            config=self.config,
            verify=self.verify,
        )
        return str(sts.get_caller_identity()["Account"])

    def alarm_state(self, name: str, region_name: str | None = None) -> str | None:
        """The CloudWatch alarm's StateValue, or None if CloudWatch has no alarm of that name."""
        answer = self.cloudwatch(region_name).describe_alarms(
            AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in [*answer.get("MetricAlarms", ()), *answer.get("CompositeAlarms", ())]:
            if alarm.get("AlarmName") == name:
                return str(alarm.get("StateValue"))
        return None

    def budget_notification_states(self, account_id: str, budget_name: str, alert_type: str) -> list[str | None] | None:
        """The NotificationState of each notification of `alert_type` the budget has (None where Budgets
        reports none), or None if Budgets has no such budget."""
        budgets = self.budgets()
        try:
            budgets.describe_budget(AccountId=account_id, BudgetName=budget_name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return None
            raise
        states: list[str | None] = []
        token: str | None = None
        while True:
            page = budgets.describe_notifications_for_budget(
                AccountId=account_id, BudgetName=budget_name, **({"NextToken": token} if token else {})
            )
            states += [
                item.get("NotificationState")
                for item in page.get("Notifications", ())
                if item.get("NotificationType") == alert_type
            ]
            token = page.get("NextToken")
            if not token:
                return states

    def still_in_alarm(self, alarm: CostAlarm) -> tuple[bool, str]:
        """Whether `alarm` still holds, and why, in words for the task log."""
        if alarm.source is AlarmSource.CLOUDWATCH:
            state = self.alarm_state(alarm.name, alarm.region)
            if state is None:
                return False, f"{alarm.label}: CloudWatch no longer has this alarm"
            return state == ALARM, f"{alarm.label} is {state}"
        account = alarm.account_id or self.caller_account()
        states = self.budget_notification_states(account, alarm.name, alarm.alert_type or "ACTUAL")
        if states is None:
            return False, f"{alarm.label}: Budgets has no such budget in account {account}"
        if ALARM in states:
            return True, f"{alarm.label}: a {alarm.alert_type} notification is in ALARM"
        if any(state is not None for state in states):
            return (
                False,
                f"{alarm.label}: its {alarm.alert_type} notifications are back to {sorted(set(map(str, states)))}",
            )
        return True, f"{alarm.label}: Budgets reports no notification state, and sends no OK; the threshold was crossed"
