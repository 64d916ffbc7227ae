-- Argo CD health check for edas.operators.dev/EdasAppMembership (Lua 5.1, gopher-lua).
-- Argo CD sets the global `obj` to the live resource and takes the returned table
-- { status = "Healthy" | "Progressing" | "Degraded" | "Suspended", message = "..." }.
--
-- Order of the checks:
--   1. no status yet                                   -> Progressing
--   2. Synced=False, reason Paused, for this generation -> Suspended (the operator is paused
--      by the annotation edas.operators.dev/paused; it makes no EDAS calls, so Ready is stale)
--   3. status.observedGeneration < metadata.generation  -> Progressing (spec not seen yet)
--   4. Reconciling=True                                 -> Progressing (a change order runs)
--   5. Stalled=True                                     -> Degraded (needs a human)
--   6. Ready=True                                       -> Healthy
--   7. otherwise                                        -> Progressing, with the Ready message

local hs = {}

local function condition(status, ctype)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

-- The condition's message; its reason when the message is empty.
local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the resource"
  return hs
end

local synced = condition(status, "Synced")
if synced ~= nil and synced.status == "False" and synced.reason == "Paused" then
  -- The paused outcome leaves status.observedGeneration alone but stamps the conditions with
  -- the generation it saw; a Paused condition from an older generation is not trusted.
  if generation == nil or synced.observedGeneration == nil or synced.observedGeneration >= generation then
    hs.status = "Suspended"
    hs.message = message_of(synced, "Paused")
    return hs
  end
end

if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe the resource"
  end
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = message_of(reconciling, "Reconciling")
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(stalled, "Stalled")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready, "Waiting for the resource to become Ready")
return hs
