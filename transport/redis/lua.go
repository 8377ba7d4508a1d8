package redis

// luaLib is the Lua shared by the queue scripts; each script's source
// starts with it. Times are Unix microseconds on the Redis server's clock,
// so that workers whose clocks differ still agree on leases and ETAs.
//
// A queue keeps its messages in hashes keyed by ID: msgs (the priority
// digit followed by the body), deliv (deliveries so far) and tokens (the
// lease token while leased). Its ready messages are IDs in ten lists, one
// per priority (the ready prefix followed by the digit), FIFO within each.
// The scripts work on many IDs per command (LPOP with a count, HMGET, HSET,
// ZADD, RPUSH with every ID at once), so a batch of N messages costs a few
// commands, not a few per message.
//
// Numbers passed to redis.call are sent exactly; Lua's own number-to-string
// conversion is not, so large numbers are never concatenated into strings.
const luaLib = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- make_ready appends ids to the tail of their priorities' ready lists;
-- vals are their msgs values, whose first byte is the priority. It returns
-- whether a list was empty before, when sleeping consumers must be told.
local function make_ready(ids, vals, ready)
  local by = {}
  for j, id in ipairs(ids) do
    local p = '5'
    if vals[j] then p = string.sub(vals[j], 1, 1) end
    local l = by[p]
    if l == nil then
      l = {}
      by[p] = l
    end
    l[#l + 1] = id
  end
  local was_empty = false
  for p, l in pairs(by) do
    if redis.call('RPUSH', ready .. p, unpack(l)) == #l then was_empty = true end
  end
  return was_empty
end

-- due moves up to 1000 IDs of zset whose score is at most now to ready;
-- unlease also drops their lease tokens (zset is the lease set). An ID
-- moves once: the script that moves it removes it first.
local function due(zset, ready, msgs, tokens, now, unlease)
  local ids = redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, 1000)
  if #ids == 0 then return false end
  redis.call('ZREM', zset, unpack(ids))
  if unlease then redis.call('HDEL', tokens, unpack(ids)) end
  return make_ready(ids, redis.call('HMGET', msgs, unpack(ids)), ready)
end

-- check returns, for each ids[j], whether toks[j] holds its lease. Leases
-- that lapsed and were not taken over yet are released to ready here, so
-- that their stale holders lose them even when no fetch came by since. An
-- ID given twice holds at most once.
local function check(ids, toks, q, now)
  local cur = redis.call('HMGET', q.tokens, unpack(ids))
  local dl = redis.call('ZMSCORE', q.leased, unpack(ids))
  local ok, lapsed, seen = {}, {}, {}
  for j, id in ipairs(ids) do
    ok[j] = false
    if cur[j] and cur[j] == toks[j] and dl[j] and not seen[id] then
      seen[id] = true
      if tonumber(dl[j]) > now then ok[j] = true else lapsed[#lapsed + 1] = id end
    end
  end
  if #lapsed > 0 then
    redis.call('ZREM', q.leased, unpack(lapsed))
    redis.call('HDEL', q.tokens, unpack(lapsed))
    if make_ready(lapsed, redis.call('HMGET', q.msgs, unpack(lapsed)), q.ready) then
      redis.call('PUBLISH', q.channel, 'ready')
    end
  end
  return ok
end

-- first_score returns the lowest score of zset, or nil.
local function first_score(zset)
  local f = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  if #f == 0 then return nil end
  return tonumber(f[2])
end
`
