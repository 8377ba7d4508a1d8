package redis

// luaLib is the Lua shared by the queue scripts; each script's source
// starts with it. Times are Unix microseconds on the Redis server's clock,
// so that workers whose clocks differ still agree on leases and ETAs.
//
// A queue keeps its messages in a hash keyed by ID, msgs (the priority
// digit followed by the body). Its ready messages are IDs in ten lists, one
// per priority (the ready prefix followed by the digit), FIFO within each.
// Its leased messages are entries of the leased set, scored by their
// deadline: the ID, '|', and the delivery's token, which is the queue
// counter's value when it was leased, '.', and the message's deliveries so
// far. A message that was put back (nacked, or its lease lapsed) keeps its
// deliveries in the deliv hash until it is settled for good; a message
// delivered for the first time has no entry there.
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

-- lease_of returns the ID and the deliveries of a leased set entry.
local function lease_of(entry)
  local id, d = string.match(entry, '^(.*)|%d+%.(%d+)$')
  if id == nil then return entry, nil end
  return id, d
end

-- unleased returns the IDs of the leased set entries es, whose leases
-- ended without settling them, and keeps their deliveries in deliv.
local function unleased(es, deliv)
  local ids, set = {}, {}
  for j, e in ipairs(es) do
    local id, d = lease_of(e)
    ids[j] = id
    if d then
      set[#set + 1] = id
      set[#set + 1] = d
    end
  end
  if #set > 0 then redis.call('HSET', deliv, unpack(set)) end
  return ids
end

-- due moves up to 1000 entries of zset whose score is at most now to
-- ready; unlease says zset is the leased set, whose entries are unleased.
-- An entry moves once: the script that moves it removes it first.
local function due(zset, ready, msgs, deliv, now, unlease)
  local ids = redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, 1000)
  if #ids == 0 then return false end
  redis.call('ZREM', zset, unpack(ids))
  if unlease then ids = unleased(ids, deliv) end
  return make_ready(ids, redis.call('HMGET', msgs, unpack(ids)), ready)
end

-- check returns, for each j, whether the leased set entry es[j] (ID ids[j]
-- and a lease token) holds its lease, and whether they all do. Leases
-- that lapsed and were not taken over yet are released to ready here, so
-- that their stale holders lose them even when no fetch came by since. An
-- entry given twice holds at most once.
local function check(ids, es, q, now)
  local dl = redis.call('ZMSCORE', q.leased, unpack(es))
  local ok, lapsed, seen, all = {}, {}, {}, true
  for j, e in ipairs(es) do
    ok[j] = false
    if dl[j] and not seen[e] then
      seen[e] = true
      if tonumber(dl[j]) > now then ok[j] = true else lapsed[#lapsed + 1] = e end
    end
    if not ok[j] then all = false end
  end
  if #lapsed > 0 then
    redis.call('ZREM', q.leased, unpack(lapsed))
    local back = unleased(lapsed, q.deliv)
    if make_ready(back, redis.call('HMGET', q.msgs, unpack(back)), q.ready) then
      redis.call('PUBLISH', q.channel, 'ready')
    end
  end
  return ok, all
end

-- forget drops the messages of IDs ids, whose leased set entries es are
-- settled for good.
local function forget(ids, es, q)
  if #es == 0 then return end
  redis.call('ZREM', q.leased, unpack(es))
  redis.call('HDEL', q.msgs, unpack(ids))
  -- Only messages delivered before have deliveries kept.
  if redis.call('EXISTS', q.deliv) == 1 then redis.call('HDEL', q.deliv, unpack(ids)) end
end

-- first_score returns the lowest score of zset, or nil.
local function first_score(zset)
  local f = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  if #f == 0 then return nil end
  return tonumber(f[2])
end
`
