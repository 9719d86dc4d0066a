#!/usr/bin/python3
"""lab.py: REST helper for the Nova lab. Runs INSIDE the lab's controller namespace:

    ip netns exec <prefix>-ctl1 /usr/bin/python3 lab/nova/lab.py <prefix> <command> [args]

Prints one JSON document on stdout; errors go to stderr (one line) with exit status 1.

    ... lab.py <prefix> serve

answers many commands with one process and one Keystone token (the tests' lab/nova.ts keeps a few
of these): one JSON list [COMMAND, ARG...] per stdin line, one JSON line back, {"ok": RESULT} or
{"error": MESSAGE}. It exits at the end of its input, or after SERVE_IDLE_SECONDS without a request.

Commands:
  catalog                          services + public/internal endpoints (up.sh)
  wait-computes N [TIMEOUT]        until nova-compute on cmp1..cmpN is up
  seed                             flavor lab.tiny, image lab-img, network lab-net (idempotent)
  appcred                          (re)create application credential nova-ha-lab -> appcred.json (0600)
  boot COUNT [NAME] [TIMEOUT] [--flavor NAME] [--image NAME]
                                   one multi-create of COUNT servers (default flavor lab.tiny, image
                                   lab-img), wait until all ACTIVE
  flavor NAME VCPUS RAM DISK [KEY=VALUE ...]
                                   a public flavor with these extra specs (an existing one keeps its
                                   size and gets the extra specs)
  delete-flavor NAME               (absent: nothing to do)
  image NAME [KEY=VALUE ...]       a public raw Glance image of 1 MiB, as seed's lab-img, with these
                                   properties (an existing one gets them)
  delete-image NAME                (absent: nothing to do)
  aggregate NAME HOST[,HOST] [KEY=VALUE ...]
                                   a host aggregate of these hosts with this metadata (an existing
                                   one gets the hosts and the metadata added)
  delete-aggregate NAME            remove its hosts, then delete it (absent: nothing to do)
  servers [HOST]                   servers of all tenants (on HOST)
  services                         nova-compute services
  wait-state HOST up|down [TIMEOUT]
  force HOST true|false            PUT forced_down
  enable HOST | disable HOST REASON
  migrations [HOST] [TYPE]         migrations from source HOST (TYPE e.g. evacuation)
  allocations                      placement usages per resource provider
  delete-servers [--timeout S] [ID...]  delete these servers (default: all, of every tenant), wait until gone (300 s)
  stop-server ID                   os-stop the server, wait until SHUTOFF
  meta ID KEY VALUE                set one metadata key of the server
  floor HOST [TIMEOUT]             Nova's own floor for evacuating HOST (powered off): force down, one
                                   evacuate POST per server back to back, one server list a second
                                   until every one is ACTIVE (SHUTOFF if stopped) elsewhere (bench/floor.ts)
"""
import json
import os
import re
import select
import subprocess
import sys
import time

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

LAB_DEVICES = ('mgmt0', 'stor0', 'ten0', 'oob0')
# The microversion this helper speaks: 2.80 has migration filters by user/project and uuids.
MV = '2.80'
TOP = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


class LabError(Exception):
    pass


def load(prefix):
    if not re.match(r'^[a-z][a-z0-9]{0,9}$', prefix):
        raise LabError('prefix %r is not a lab prefix (e.g. nhn)' % prefix)
    run = os.path.join(os.environ.get('NOVA_HA_LAB_RUN', os.path.join(TOP, 'lab', 'run')), prefix, 'nova')
    try:
        with open(os.path.join(run, 'lab.json')) as f:
            lab = json.load(f)
        with open(os.path.join(run, 'admin.json')) as f:
            admin = json.load(f)
    except OSError as e:
        raise LabError('the Nova lab of prefix %s is not up (%s); run lab/nova/up.sh %s N' % (prefix, e, prefix))
    lab['run'] = run
    return lab, admin


def check_route(addr):
    """Refuse unless this namespace reaches addr through a lab device (HARD network rule)."""
    out = subprocess.run(['ip', 'route', 'get', addr], capture_output=True, text=True).stdout
    words = out.split()
    dev = words[words.index('dev') + 1] if 'dev' in words else None
    if out.startswith('local'):
        addrs = subprocess.run(['ip', '-o', '-4', 'addr', 'show'], capture_output=True, text=True).stdout
        dev = next((l.split()[1] for l in addrs.splitlines() if l.split()[3].split('/')[0] == addr), None)
    if dev not in LAB_DEVICES:
        raise LabError('refusing to send to %s: its route uses device %s, not a lab device; '
                       'run lab.py inside the lab namespace (ip netns exec <prefix>-ctl1 ...)' % (addr, dev))


class Lab:
    def __init__(self, lab, admin):
        self.lab = lab
        self.nova = lab['computeUrl']
        self.ks = lab['keystoneUrl']
        self.glance = lab['imageUrl']
        self.neutron = lab['networkUrl']
        self.placement = lab['placementUrl']
        auth = v3.Password(auth_url=admin['auth_url'], username=admin['username'], password=admin['password'],
                           project_name=admin['project_name'], user_domain_name=admin['user_domain_name'],
                           project_domain_name=admin['project_domain_name'])
        self.sess = ks_session.Session(auth=auth)

    def req(self, method, url, body=None, mv=MV, ok=(200, 201, 202, 204), **kw):
        headers = kw.pop('headers', {})
        if url.startswith(self.nova):
            headers['OpenStack-API-Version'] = 'compute %s' % mv
        if url.startswith(self.placement):
            headers['OpenStack-API-Version'] = 'placement 1.28'
        r = self.sess.request(url, method, json=body, headers=headers, raise_exc=False, **kw)
        if r.status_code not in ok:
            raise LabError('%s %s -> %s %s' % (method, url, r.status_code, r.text[:300].replace('\n', ' ')))
        try:
            return r.json()
        except ValueError:
            return None

    # ---- catalog ---------------------------------------------------------------------------
    def catalog(self):
        have = {s['type']: s['id'] for s in self.req('GET', self.ks + '/services')['services']}
        endpoints = self.req('GET', self.ks + '/endpoints')['endpoints']
        made = []
        for typ, name, url in (('compute', 'nova', self.nova), ('placement', 'placement', self.placement),
                               ('image', 'glance', self.glance), ('network', 'neutron', self.neutron)):
            sid = have.get(typ) or self.req('POST', self.ks + '/services',
                                            {'service': {'type': typ, 'name': name}})['service']['id']
            for interface in ('public', 'internal'):
                if any(e['service_id'] == sid and e['interface'] == interface for e in endpoints):
                    continue
                self.req('POST', self.ks + '/endpoints', {'endpoint': {
                    'service_id': sid, 'interface': interface, 'url': url, 'region_id': self.lab['region']}})
                made.append('%s/%s' % (typ, interface))
        return {'created': made}

    # ---- services --------------------------------------------------------------------------
    def services(self):
        out = []
        for s in self.req('GET', self.nova + '/os-services?binary=nova-compute')['services']:
            out.append({k: s.get(k) for k in ('id', 'host', 'state', 'status', 'forced_down', 'disabled_reason',
                                                'updated_at', 'zone')})
        return sorted(out, key=lambda s: (len(s['host']), s['host']))

    def service(self, host):
        for s in self.services():
            if s['host'] == host:
                return s
        raise LabError('no nova-compute service on host %s' % host)

    def wait_computes(self, n, timeout=300):
        t0 = time.time()
        want = {'cmp%d' % i for i in range(1, n + 1)}
        first = {}
        last_error = None
        while time.time() - t0 < timeout:
            try:
                for s in self.services():
                    if s['state'] == 'up' and s['host'] in want and s['host'] not in first:
                        first[s['host']] = round(time.time() - t0, 1)
            except Exception as e:  # nova-api not answering yet
                last_error = e
            if len(first) == len(want):
                return {'up': first, 'seconds': round(time.time() - t0, 1)}
            time.sleep(0.5)
        raise LabError('after %d s only %s of cmp1..cmp%d are up (last error: %s)' % (timeout, sorted(first), n, last_error))

    def wait_state(self, host, state, timeout=120):
        t0 = time.time()
        while time.time() - t0 < timeout:
            s = self.service(host)
            if s['state'] == state:
                return {'host': host, 'state': state, 'seconds': round(time.time() - t0, 2), 'service': s}
            time.sleep(0.2)
        raise LabError('%s nova-compute not %s after %d s' % (host, state, timeout))

    def update_service(self, host, body):
        s = self.service(host)
        return self.req('PUT', self.nova + '/os-services/%s' % s['id'], body, mv='2.53')['service']

    # ---- resources -------------------------------------------------------------------------
    def _find(self, url, key, name):
        for item in self.req('GET', url)[key]:
            if item.get('name') == name:
                return item['id']
        return None

    def _named(self, url, key, name):
        item = self._find(url, key, name)
        if not item:
            raise LabError('no %s named %s' % (key[:-1], name))
        return item

    def _image(self, name):
        """The image's ID by name (Glance filters by name itself: no page of 25 hides it), or None."""
        found = self.req('GET', self.glance + '/v2/images?name=%s' % name)['images']
        return found[0]['id'] if found else None

    # ---- flavors, images, aggregates with HA properties (the priority lab test) --------------
    def flavor(self, name, vcpus, ram, disk, specs):
        fid = self._find(self.nova + '/flavors', 'flavors', name)
        if not fid:
            fid = self.req('POST', self.nova + '/flavors', {'flavor': {
                'name': name, 'vcpus': int(vcpus), 'ram': int(ram), 'disk': int(disk)}})['flavor']['id']
        if specs:
            self.req('POST', self.nova + '/flavors/%s/os-extra_specs' % fid, {'extra_specs': specs})
        got = self.req('GET', self.nova + '/flavors/%s/os-extra_specs' % fid)['extra_specs']
        return {'id': fid, 'name': name, 'extra_specs': got}

    def delete_flavor(self, name):
        fid = self._find(self.nova + '/flavors', 'flavors', name)
        if fid:
            self.req('DELETE', self.nova + '/flavors/%s' % fid, ok=(202, 204, 404))
        return {'deleted': bool(fid), 'name': name}

    def image(self, name, props):
        iid = self._image(name)
        if not iid:
            body = dict(props, name=name, disk_format='raw', container_format='bare', visibility='public')
            iid = self.req('POST', self.glance + '/v2/images', body)['id']
            self.req('PUT', self.glance + '/v2/images/%s/file' % iid, None, data=b'\0' * (1 << 20),
                     headers={'Content-Type': 'application/octet-stream'})
        elif props:
            have = self.req('GET', self.glance + '/v2/images/%s' % iid)
            patch = [{'op': 'replace' if k in have else 'add', 'path': '/' + k, 'value': v} for k, v in props.items()]
            self.req('PATCH', self.glance + '/v2/images/%s' % iid, None, data=json.dumps(patch),
                     headers={'Content-Type': 'application/openstack-images-v2.1-json-patch'})
        got = self.req('GET', self.glance + '/v2/images/%s' % iid)
        return {'id': iid, 'name': name, 'status': got['status'], 'properties': {k: got.get(k) for k in props}}

    def delete_image(self, name):
        iid = self._image(name)
        if iid:
            self.req('DELETE', self.glance + '/v2/images/%s' % iid, ok=(204, 404))
        return {'deleted': bool(iid), 'name': name}

    def _aggregate(self, name):
        return next((a for a in self.req('GET', self.nova + '/os-aggregates')['aggregates'] if a['name'] == name), None)

    def aggregate(self, name, hosts, metadata):
        agg = self._aggregate(name) or self.req('POST', self.nova + '/os-aggregates', {'aggregate': {'name': name}})['aggregate']
        action = self.nova + '/os-aggregates/%s/action' % agg['id']
        for host in hosts:
            if host not in (agg.get('hosts') or []):
                agg = self.req('POST', action, {'add_host': {'host': host}})['aggregate']
        if metadata:
            agg = self.req('POST', action, {'set_metadata': {'metadata': metadata}})['aggregate']
        return {k: agg.get(k) for k in ('id', 'name', 'hosts', 'metadata')}

    def delete_aggregate(self, name):
        agg = self._aggregate(name)
        if not agg:
            return {'deleted': False, 'name': name}
        for host in agg.get('hosts') or []:
            self.req('POST', self.nova + '/os-aggregates/%s/action' % agg['id'], {'remove_host': {'host': host}})
        self.req('DELETE', self.nova + '/os-aggregates/%s' % agg['id'])
        return {'deleted': True, 'name': name}

    def seed(self):
        t0 = time.time()
        flavor = self._find(self.nova + '/flavors', 'flavors', 'lab.tiny')
        if not flavor:
            flavor = self.req('POST', self.nova + '/flavors', {'flavor': {
                'name': 'lab.tiny', 'ram': 512, 'vcpus': 1, 'disk': 1}})['flavor']['id']
        image = self._find(self.glance + '/v2/images', 'images', 'lab-img')
        if not image:
            image = self.req('POST', self.glance + '/v2/images', {
                'name': 'lab-img', 'disk_format': 'raw', 'container_format': 'bare', 'visibility': 'public'})['id']
            self.req('PUT', self.glance + '/v2/images/%s/file' % image, None, data=b'\0' * (1 << 20),
                     headers={'Content-Type': 'application/octet-stream'})
        network = self._find(self.neutron + '/v2.0/networks', 'networks', 'lab-net')
        if not network:
            network = self.req('POST', self.neutron + '/v2.0/networks', {'network': {'name': 'lab-net'}})['network']['id']
        subnet = self._find(self.neutron + '/v2.0/subnets', 'subnets', 'lab-sub')
        if not subnet:
            subnet = self.req('POST', self.neutron + '/v2.0/subnets', {'subnet': {
                'name': 'lab-sub', 'network_id': network, 'ip_version': 4, 'cidr': '198.18.100.0/22'}})['subnet']['id']
        return {'flavor': flavor, 'image': image, 'network': network, 'subnet': subnet,
                'seconds': round(time.time() - t0, 2)}

    def appcred(self):
        user = self.sess.get_user_id()
        base = self.ks + '/users/%s/application_credentials' % user
        for c in self.req('GET', base)['application_credentials']:
            if c['name'] == 'nova-ha-lab':
                self.req('DELETE', base + '/' + c['id'])
        c = self.req('POST', base, {'application_credential': {'name': 'nova-ha-lab',
                                                                 'description': 'nova-ha lab tests'}})
        c = c['application_credential']
        path = os.path.join(self.lab['run'], 'appcred.json')
        fd = os.open(path + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump({'application_credential_id': c['id'], 'application_credential_secret': c['secret']}, f)
        os.replace(path + '.tmp', path)
        return {'id': c['id'], 'file': path}

    # ---- servers ---------------------------------------------------------------------------
    def servers(self, host=None, extra=''):
        url = self.nova + '/servers/detail?all_tenants=1&limit=200' + ('&host=%s' % host if host else '') + extra
        out = []
        while url:
            page = self.req('GET', url)
            out.extend(page['servers'])
            url = next((l['href'] for l in page.get('servers_links', []) if l.get('rel') == 'next'), None)
        return [{'id': s['id'], 'name': s['name'], 'status': s['status'], 'task_state': s.get('OS-EXT-STS:task_state'),
                 'host': s.get('OS-EXT-SRV-ATTR:host'), 'metadata': s.get('metadata', {}),
                 'fault': (s.get('fault') or {}).get('message')} for s in out]

    def boot(self, count, name='vm', timeout=600, flavor=None, image=None):
        seed = self.seed()
        flavor_id = self._named(self.nova + '/flavors', 'flavors', flavor) if flavor else seed['flavor']
        image_id = self._image(image) if image else seed['image']
        if not flavor_id or not image_id:
            raise LabError('boot: no flavor %r or no image %r; create them first (lab.py flavor / image)' % (flavor, image))
        t0 = time.time()
        r = self.req('POST', self.nova + '/servers', {'server': {
            'name': name, 'flavorRef': flavor_id, 'imageRef': image_id, 'networks': [{'uuid': seed['network']}],
            'min_count': count, 'max_count': count, 'return_reservation_id': True}})
        reservation = r['reservation_id']
        post = time.time() - t0
        while True:
            srv = self.servers(extra='&reservation_id=%s' % reservation)
            if len(srv) >= count and all(s['status'] in ('ACTIVE', 'ERROR') for s in srv):
                break
            if time.time() - t0 > timeout:
                raise LabError('boot: not all %d servers settled after %d s: %s' % (
                    count, timeout, {s['id']: s['status'] for s in srv}))
            time.sleep(0.5)
        spread = {}
        for s in srv:
            spread[s['host']] = spread.get(s['host'], 0) + 1
        return {'count': count, 'reservation_id': reservation, 'postSeconds': round(post, 2),
                'settledSeconds': round(time.time() - t0, 1), 'spread': spread,
                'active': sum(1 for s in srv if s['status'] == 'ACTIVE'),
                'errors': [{'id': s['id'], 'fault': s['fault']} for s in srv if s['status'] == 'ERROR'],
                'servers': [s['id'] for s in srv]}

    def delete_servers(self, only=None, timeout=300):
        t0 = time.time()
        ids = list(only) if only else [s['id'] for s in self.servers()]
        for i in ids:
            self.req('DELETE', self.nova + '/servers/%s' % i, ok=(204, 404))
        while True:
            left = [s for s in self.servers() if s['id'] in ids]
            if not left:
                break
            if time.time() - t0 > timeout:
                raise LabError('servers still present %d s after deleting them: %s' % (timeout, ', '.join(
                    '%s on %s (%s, task %s)' % (s['id'], s['host'], s['status'], s['task_state']) for s in left)))
            time.sleep(0.5)
        return {'deleted': len(ids), 'seconds': round(time.time() - t0, 1)}

    def stop_server(self, server, timeout=120):
        """Stops a server and waits until it is SHUTOFF (an evacuation must keep it SHUTOFF)."""
        self.req('POST', self.nova + '/servers/%s/action' % server, {'os-stop': None})
        t0 = time.time()
        while True:
            s = self.req('GET', self.nova + '/servers/%s' % server)['server']
            if s['status'] == 'SHUTOFF' and not s.get('OS-EXT-STS:task_state'):
                return {'id': server, 'status': s['status'], 'seconds': round(time.time() - t0, 1)}
            if time.time() - t0 > timeout:
                raise LabError('server %s not SHUTOFF %d s after os-stop (status %s)' % (server, timeout, s['status']))
            time.sleep(0.5)

    def set_meta(self, server, key, value):
        return self.req('POST', self.nova + '/servers/%s/metadata' % server, {'metadata': {key: value}})['metadata']

    def migrations(self, host=None, mtype=None):
        q = []
        if host:
            q.append('source_compute=%s' % host)
        if mtype:
            q.append('migration_type=%s' % mtype)
        m = self.req('GET', self.nova + '/os-migrations' + ('?' + '&'.join(q) if q else ''))['migrations']
        return [{k: x.get(k) for k in ('id', 'uuid', 'instance_uuid', 'migration_type', 'status', 'source_compute',
                                       'dest_compute', 'created_at', 'updated_at')} for x in m]

    def floor(self, host, timeout=900):
        """The raw Nova floor of an evacuation, timed from the first call (authentication before it)."""
        self.sess.get_token()
        t0 = time.time()
        svc = self.service(host)
        self.req('PUT', self.nova + '/os-services/%s' % svc['id'], {'forced_down': True}, mv='2.53')
        servers = self.servers(host)
        want = {s['id']: ('SHUTOFF' if s['status'] == 'SHUTOFF' else 'ACTIVE') for s in servers}
        posts = []
        for sid in want:
            self.req('POST', self.nova + '/servers/%s/action' % sid, {'evacuate': {}})
            posts.append(time.time() - t0)
        lists = 0
        while True:
            time.sleep(1)
            lists += 1
            now = {s['id']: s for s in self.servers()}
            done = [i for i, status in want.items() if i in now and now[i]['host'] != host
                    and not now[i]['task_state'] and now[i]['status'] == status]
            failed = [i for i in want if i in now and now[i]['status'] == 'ERROR' and not now[i]['task_state']]
            if len(done) + len(failed) == len(want):
                break
            if time.time() - t0 > timeout:
                raise LabError('floor: %d of %d servers settled after %d s' % (len(done), len(want), timeout))
        return {'host': host, 'instances': len(want), 'evacuated': len(done), 'failed': len(failed),
                'wallSeconds': round(time.time() - t0, 3), 'firstPost': round(posts[0], 3) if posts else None,
                'lastPost': round(posts[-1], 3) if posts else None, 'lists': lists}

    def allocations(self):
        rps = self.req('GET', self.placement + '/resource_providers')['resource_providers']
        return {r['name']: self.req('GET', self.placement + '/resource_providers/%s/usages' % r['uuid'])['usages']
                for r in rps}


def pairs(args):
    """KEY=VALUE arguments as a dict (a value may hold '=')."""
    out = {}
    for arg in args:
        if '=' not in arg:
            raise LabError('%r is not KEY=VALUE' % arg)
        key, value = arg.split('=', 1)
        out[key] = value
    return out


def options(args, names):
    """Splits '--NAME VALUE' options (of names) from the positional arguments."""
    rest, found = [], {}
    i = 0
    while i < len(args):
        if args[i].startswith('--') and args[i][2:] in names and i + 1 < len(args):
            found[args[i][2:]] = args[i + 1]
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return rest, found


def dispatch(L, cmd, a):
    opts = {}
    if cmd == 'boot':
        a, opts = options(a, ('flavor', 'image'))
    elif cmd == 'delete-servers':
        a, opts = options(a, ('timeout',))
    num_opt = lambda name, default: float(opts[name]) if name in opts else default
    num = lambda i, default: float(a[i]) if len(a) > i else default
    commands = {
        'catalog': lambda: L.catalog(),
        'wait-computes': lambda: L.wait_computes(int(a[0]), num(1, 300)),
        'seed': lambda: L.seed(),
        'appcred': lambda: L.appcred(),
        'boot': lambda: L.boot(int(a[0]), a[1] if len(a) > 1 else 'vm', num(2, 600), opts.get('flavor'), opts.get('image')),
        'flavor': lambda: L.flavor(a[0], a[1], a[2], a[3], pairs(a[4:])),
        'delete-flavor': lambda: L.delete_flavor(a[0]),
        'image': lambda: L.image(a[0], pairs(a[1:])),
        'delete-image': lambda: L.delete_image(a[0]),
        'aggregate': lambda: L.aggregate(a[0], [h for h in a[1].split(',') if h], pairs(a[2:])),
        'delete-aggregate': lambda: L.delete_aggregate(a[0]),
        'servers': lambda: L.servers(a[0] if a else None),
        'services': lambda: L.services(),
        'wait-state': lambda: L.wait_state(a[0], a[1], num(2, 120)),
        'force': lambda: L.update_service(a[0], {'forced_down': a[1] == 'true'}),
        'enable': lambda: L.update_service(a[0], {'status': 'enabled'}),
        'disable': lambda: L.update_service(a[0], {'status': 'disabled', 'disabled_reason': a[1]}),
        'migrations': lambda: L.migrations(a[0] if a else None, a[1] if len(a) > 1 else None),
        'allocations': lambda: L.allocations(),
        'delete-servers': lambda: L.delete_servers(a, num_opt('timeout', 300)),
        'stop-server': lambda: L.stop_server(a[0]),
        'meta': lambda: L.set_meta(a[0], a[1], a[2]),
        'floor': lambda: L.floor(a[0], num(1, 900)),
    }
    if cmd not in commands:
        raise LabError('unknown command %r\n%s' % (cmd, __doc__))
    return commands[cmd]()


SERVE_IDLE_SECONDS = 300


def serve(lab, L):
    """One request per stdin line; the route is checked before each, as for a one-shot command."""
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], SERVE_IDLE_SECONDS)
        if not ready:
            return
        line = sys.stdin.readline()
        if not line:
            return
        try:
            request = json.loads(line)
            if not isinstance(request, list) or not request or not all(isinstance(x, str) for x in request):
                raise LabError('a request is a JSON list of strings [COMMAND, ARG...], not %s' % line.strip()[:80])
            check_route(lab['ctlAddress'])
            reply = {'ok': dispatch(L, request[0], request[1:])}
        except (LabError, IndexError, ValueError) as e:
            reply = {'error': 'lab.py: %s' % (e if str(e) else 'missing argument; see lab.py --help')}
        except Exception as e:  # a broken connection to the lab's API must not take the worker down
            reply = {'error': 'lab.py: %s: %s' % (type(e).__name__, e)}
        print(json.dumps(reply), flush=True)


def main(argv):
    if len(argv) < 2:
        raise LabError('usage: lab.py PREFIX COMMAND [ARGS]\n' + __doc__)
    lab, admin = load(argv[0])
    check_route(lab['ctlAddress'])
    cmd, a = argv[1], argv[2:]
    L = Lab(lab, admin)
    if cmd == 'serve':
        serve(lab, L)
        return
    print(json.dumps(dispatch(L, cmd, a)), flush=True)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except (LabError, IndexError, ValueError) as e:
        print('lab.py: %s' % (e if str(e) else 'missing argument; see lab.py --help'), file=sys.stderr)
        sys.exit(1)
