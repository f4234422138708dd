"""The one Lua script of the Redis store: it mirrors ``algorithm`` and ``memory`` exactly.

``ARGV[1]`` is the mode (``r`` reserve, ``s`` settle), ``ARGV[2]`` is ``now`` in seconds (empty:
use Redis ``TIME``), then five arguments per key: code, limit, period, cost or delta, member.
Reserve codes: ``g`` meter, ``l`` lease, ``b`` budget; settle codes: ``g``, ``b``, ``x`` release
a lease, ``n`` renew a lease. Reserve returns ``{allowed, rejected index (0-based or -1),
retry_after, then the level of each key after the decision}``; the client derives remaining
and reset from the levels (``algorithm.remaining_and_reset``), which keeps the work inside
Redis, single-threaded and shared by every replica, small. Floats travel as strings with 17
digits because Redis truncates Lua numbers to integers and ``tostring`` keeps only 14 digits;
strings Redis already holds (``now``, a budget total) are passed through unformatted.
"""

from __future__ import annotations

__all__ = ["LIMITS_SCRIPT"]

LIMITS_SCRIPT = """
local mode = ARGV[1]
local now, now_s
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  now_s = string.format('%.17g', now)
else
  now_s = ARGV[2]
  now = tonumber(now_s)
end
local EPS = 1e-9
local GRACE = 86400
local LEASE_RETRY = 1
local n = #KEYS

local function fmt(x) return string.format('%.17g', x) end

-- The meter's level at now, and the stamp to store (never earlier than the stored one).
local function meter(key, limit, period)
  local h = redis.call('HMGET', key, 'u', 't')
  if not h[1] then return 0, nil end
  local used, t = tonumber(h[1]), tonumber(h[2])
  if now <= t then return used, h[2] end
  if limit <= 0 then return used, nil end
  local level = used - (now - t) * limit / period
  if level > 0 then return level, nil end
  return 0, nil
end

local function write_meter(key, level, stamp, limit, period)
  local level_s = fmt(level)
  redis.call('HSET', key, 'u', level_s, 't', stamp or now_s)
  local ms = period * 1000
  if limit > 0 then ms = level * period / limit * 1000 end
  redis.call('PEXPIRE', key, math.ceil(ms) + 1000)
  return level_s
end

local function write_budget(key, spent, period)
  local spent_s = fmt(spent)
  redis.call('SET', key, spent_s, 'PX', math.ceil((period + GRACE) * 1000))
  return spent_s
end

if mode == 'r' then
  local levels, raws, stamps = {}, {}, {}
  local allowed, rejected, retry = 1, -1, 0
  for i = 1, n do
    local b = 2 + (i - 1) * 5
    local code, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
    local period, cost = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    local ok, level, wait
    if code == 'g' then
      level, stamps[i] = meter(KEYS[i], limit, period)
      local need = cost
      if need <= 0 then need = 1 end
      ok = level + need <= limit + EPS
      wait = 0
      if not ok then
        if limit <= 0 or need > limit + EPS then
          wait = period
        else
          wait = (level + need - limit) * period / limit
          if wait < 0 then wait = 0 end
        end
      end
    elseif code == 'b' then
      raws[i] = redis.call('GET', KEYS[i]) or '0'
      level = tonumber(raws[i])
      ok = level + cost <= limit + EPS and level < limit - EPS
      wait = period
    else
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now_s)
      level = redis.call('ZCARD', KEYS[i])
      raws[i] = level
      ok = level + 1 <= limit
      wait = LEASE_RETRY
    end
    levels[i] = level
    if not ok then
      allowed = 0
      if rejected < 0 or wait > retry then
        rejected, retry = i - 1, wait
      end
    end
  end
  if allowed == 0 then
    local out = {0, rejected, fmt(retry)}
    for i = 1, n do out[3 + i] = raws[i] or fmt(levels[i]) end
    return out
  end
  local out = {1, -1, 0}
  for i = 1, n do
    local b = 2 + (i - 1) * 5
    local code, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
    local period, cost = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    if code == 'g' then
      out[3 + i] = write_meter(KEYS[i], levels[i] + cost, stamps[i], limit, period)
    elseif code == 'b' then
      if cost > 0 then
        out[3 + i] = write_budget(KEYS[i], levels[i] + cost, period)
      else
        out[3 + i] = raws[i]
      end
    else
      redis.call('ZADD', KEYS[i], fmt(now + period), ARGV[b + 5])
      redis.call('PEXPIRE', KEYS[i], math.ceil(period * 1000) + 1000)
      out[3 + i] = levels[i] + 1
    end
  end
  return out
end

for i = 1, n do
  local b = 2 + (i - 1) * 5
  local code, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
  local period, delta = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if code == 'g' then
    local level, stamp = meter(KEYS[i], limit, period)
    level = level + delta
    if level < 0 then level = 0 end
    write_meter(KEYS[i], level, stamp, limit, period)
  elseif code == 'b' then
    local spent = tonumber(redis.call('GET', KEYS[i]) or '0') + delta
    if spent < 0 then spent = 0 end
    write_budget(KEYS[i], spent, period)
  elseif code == 'x' then
    redis.call('ZREM', KEYS[i], ARGV[b + 5])
  else
    if redis.call('ZADD', KEYS[i], 'XX', 'CH', fmt(now + period), ARGV[b + 5]) == 1 then
      redis.call('PEXPIRE', KEYS[i], math.ceil(period * 1000) + 1000)
    end
  end
end
return 1
"""
