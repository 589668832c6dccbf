"""The government layer: organisation, officials, enrollment, offboarding, policy.

It implements the hooks core consults (qasid.core.policy.Policy) and uses core's own
operations; core never imports it.
"""
