# Flags of every Temporal dev server we start (make run, make test, make bench): Pombo's
# search attributes, and the task-matching settings priority and tenant fairness rely on.
# Sourced; sets TEMPORAL_FLAGS.
TEMPORAL_FLAGS=()
for sa in PomboTenant PomboChannel PomboPriority PomboStatus; do
  TEMPORAL_FLAGS+=(--search-attribute "$sa=Keyword")
done
# Priority keys work with the server's defaults; fairness keys (one per tenant, so one
# tenant's backlog cannot starve another's sends of the same priority) need the fairness
# matcher, which is off by default in Server 1.32.
TEMPORAL_FLAGS+=(--dynamic-config-value matching.enableFairness=true)
