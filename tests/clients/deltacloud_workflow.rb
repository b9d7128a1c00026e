# A Deltacloud client's whole workflow, as its users wrote them with Ruby's rest-client against
# Deltacloud's mock driver: every collection and action, blobs included, by the fixture ids
# (img1, inst1, vol1, bucket1, ...). Run as: ruby deltacloud_workflow.rb URL USER PASSWORD
# Prints one line per step; exits 1 at the first answer that is not Deltacloud's.
require "rest-client"
require "rexml/document"
require "json"

API, USER, PASSWORD = ARGV
$steps = 0

def call(method, path, payload: nil, headers: {}, auth: true)
  options = { method: method, url: API + path, headers: headers }
  options[:payload] = payload if payload
  options.update(user: USER, password: PASSWORD) if auth
  RestClient::Request.execute(**options)
rescue RestClient::ExceptionWithResponse => e
  e.response
end

def check(what, ok, detail = "")
  $steps += 1
  unless ok
    puts "FAIL #{what}: #{detail}"
    exit 1
  end
  puts "ok #{what}"
end

def xml(response)
  REXML::Document.new(response.body).root
end

def ids(response, tag)
  REXML::XPath.match(xml(response), "//#{tag}").map { |e| e.attributes["id"] }
end

# the entry point, open without credentials
entry = call(:get, "/api", auth: false)
check "entry point is open", entry.code == 200, entry.code
root = xml(entry)
check "driver is mock", root.attributes["driver"] == "mock", root.attributes["driver"]
rels = REXML::XPath.match(root, "link").map { |l| l.attributes["rel"] }
%w[realms hardware_profiles images instances keys storage_volumes storage_snapshots addresses
   firewalls buckets load_balancers metrics networks subnets network_interfaces].each do |rel|
  check "entry point links #{rel}", rels.include?(rel), rels.join(",")
end
check "a wrong password is refused", call(:get, "/api/instances", headers: {},
  auth: false).code == 401

# realms, hardware profiles, images
check "realms us and eu", ids(call(:get, "/api/realms"), "realm") == %w[us eu]
large = xml(call(:get, "/api/hardware_profiles/m1-large"))
cpu = REXML::XPath.first(large, "property[@name='cpu']")
check "m1-large's cpu is a range", cpu.attributes["kind"] == "range"
range = REXML::XPath.first(cpu, "range")
check "m1-large's cpu range is 1 to 6",
      [range.attributes["first"], range.attributes["last"]] == %w[1 6]
i386 = ids(call(:get, "/api/images?architecture=i386"), "image")
check "i386 images are img2 and img3", i386.sort == %w[img2 img3], i386.inspect
img1 = xml(call(:get, "/api/images/img1"))
check "img1 is Fedora 10", img1.elements["description"].text.strip == "Fedora 10"
check "img1 lists the profiles that run it",
      REXML::XPath.match(img1, "hardware_profiles/hardware_profile").size >= 1

# instances
inst1 = xml(call(:get, "/api/instances/inst1"))
check "inst1 is MockUserInstance", inst1.elements["name"].text.strip == "MockUserInstance"
check "inst1 runs img3", inst1.elements["image"].attributes["id"] == "img3"
made = call(:post, "/api/instances",
            payload: { image_id: "img1", hwp_id: "m1-large", realm_id: "us", name: "ruby-vm",
                       hwp_cpu: "2", hwp_memory: "8192", keyname: "test-key" })
check "instance create answers 201", made.code == 201, "#{made.code} #{made.body}"
vm = xml(made).attributes["id"]
check "instance create sets Location", made.headers[:location].to_s.end_with?("/instances/#{vm}")
login = REXML::XPath.first(xml(made), "authentication[@type='key']/login/keyname")
check "its key is in authentication/login", login && login.text.strip == "test-key"
state = xml(call(:get, "/api/instances/#{vm}")).elements["state"].text.strip
check "the new instance runs", state == "RUNNING", state
stop = call(:post, "/api/instances/#{vm}/stop")
check "stop answers 202", stop.code == 202, stop.code
check "stopped", xml(stop).elements["state"].text.strip == "STOPPED"
check "start answers 202", call(:post, "/api/instances/#{vm}/start").code == 202
check "reboot answers 202", call(:post, "/api/instances/#{vm}/reboot").code == 202
running = ids(call(:get, "/api/instances?state=RUNNING"), "instance")
check "listing by state finds it", running.include?(vm), running.inspect

# keys
key = call(:post, "/api/keys", payload: { name: "ruby-key" })
check "key create answers 201", key.code == 201, key.code
check "a generated key shows its pem once", xml(key).elements["pem"]
check "key destroy answers 204", call(:delete, "/api/keys/ruby-key").code == 204

# volumes and snapshots
volume = call(:post, "/api/storage_volumes", payload: { capacity: "2", realm_id: "us" })
check "volume create answers 201", volume.code == 201, "#{volume.code} #{volume.body}"
vol = xml(volume).attributes["id"]
attach = call(:post, "/api/storage_volumes/#{vol}/attach",
              payload: { instance_id: vm, device: "/dev/sdc" })
check "attach answers 202", attach.code == 202, "#{attach.code} #{attach.body}"
mount = REXML::XPath.first(xml(attach), "mount/instance")
check "the volume is mounted on the instance", mount && mount.attributes["id"] == vm
check "detach answers 202", call(:post, "/api/storage_volumes/#{vol}/detach").code == 202
snapshot = call(:post, "/api/storage_snapshots", payload: { volume_id: "vol1" })
check "snapshot create answers 201", snapshot.code == 201, snapshot.code
snap = xml(snapshot).attributes["id"]
check "snapshot destroy answers 204", call(:delete, "/api/storage_snapshots/#{snap}").code == 204
check "volume destroy answers 204", call(:delete, "/api/storage_volumes/#{vol}").code == 204
check "the fixture snapshots are there",
      (%w[snap1 snap2 snap3] - ids(call(:get, "/api/storage_snapshots"), "storage_snapshot")).empty?

# addresses
assoc = call(:post, "/api/addresses/192.168.0.1/associate", payload: { instance_id: vm })
check "associate answers 202", assoc.code == 202, "#{assoc.code} #{assoc.body}"
check "disassociate answers 202",
      call(:post, "/api/addresses/192.168.0.1/disassociate").code == 202

# firewalls
firewall = call(:post, "/api/firewalls", payload: { name: "ruby-fw", description: "from ruby" })
check "firewall create answers 201", firewall.code == 201, firewall.code
fw = xml(firewall).attributes["id"]
rule = call(:post, "/api/firewalls/#{fw}/rules",
            payload: { protocol: "tcp", port_from: "22", port_to: "22", ip_address: "10.0.0.0/8" })
check "rule create answers 201", rule.code == 201, "#{rule.code} #{rule.body}"
rule_id = REXML::XPath.first(xml(rule), "rules/rule").attributes["id"]
check "rule destroy answers 204", call(:delete, "/api/firewalls/#{fw}/#{rule_id}").code == 204
check "firewall destroy answers 204", call(:delete, "/api/firewalls/#{fw}").code == 204

# buckets and blobs
bucket1 = xml(call(:get, "/api/buckets/bucket1"))
blobs = REXML::XPath.match(bucket1, "blob").map { |b| b.attributes["id"] }
check "bucket1 holds blob1 to blob3", blobs == %w[blob1 blob2 blob3], blobs.inspect
content = call(:get, "/api/buckets/bucket1/blob1/content")
check "blob1's content", content.body == "content of blob 1", content.body
head = call(:head, "/api/buckets/bucket1/blob1")
check "HEAD on a blob answers 204", head.code == 204, head.code
check "with its metadata", head.headers[:x_deltacloud_blobmeta_somenewkey] == "NEWVALUE",
      head.headers.inspect
put = call(:put, "/api/buckets/bucket2/ruby-blob", payload: "hello from ruby",
           headers: { content_type: "text/plain", "X-Deltacloud-Blobmeta-Colour" => "blue" })
check "PUT blob answers 200", put.code == 200, "#{put.code} #{put.body}"
meta = call(:post, "/api/buckets/bucket2/ruby-blob",
            headers: { "X-Deltacloud-Blobmeta-Colour" => "green" })
check "metadata update answers 204", meta.code == 204, meta.code
check "the new metadata is read back",
      call(:head, "/api/buckets/bucket2/ruby-blob").headers[:x_deltacloud_blobmeta_colour] == "green"
form = call(:post, "/api/buckets/bucket2",
            payload: { blob_id: "form-blob", meta_params: "1", meta_name1: "k", meta_value1: "v",
                       blob_data: File.new(__FILE__, "rb") })
check "multipart blob create answers 200 or 201", [200, 201].include?(form.code),
      "#{form.code} #{form.body}"
check "its content is the file",
      call(:get, "/api/buckets/bucket2/form-blob/content").body == File.binread(__FILE__)
%w[ruby-blob form-blob].each do |b|
  check "blob #{b} destroy answers 204", call(:delete, "/api/buckets/bucket2/#{b}").code == 204
end
check "bucket create answers 201", call(:post, "/api/buckets", payload: { name: "rubybucket" }).code == 201
check "bucket destroy answers 204", call(:delete, "/api/buckets/rubybucket").code == 204

# load balancers
lb = call(:post, "/api/load_balancers",
          payload: { name: "ruby-lb", realm_id: "us", listener_protocol: "HTTP",
                     listener_balancer_port: "80", listener_instance_port: "8080" })
check "load balancer create answers 201", lb.code == 201, "#{lb.code} #{lb.body}"
reg = call(:post, "/api/load_balancers/ruby-lb/register", payload: { instance_id: vm })
check "register answers 200", reg.code == 200, "#{reg.code} #{reg.body}"
check "the instance is a member", ids(reg, "instances/instance") == [vm]
unreg = call(:post, "/api/load_balancers/ruby-lb/unregister", payload: { instance_id: vm })
check "unregister answers 200", unreg.code == 200, unreg.code
check "load balancer destroy answers 204", call(:delete, "/api/load_balancers/ruby-lb").code == 204

# metrics
metric = xml(call(:get, "/api/metrics/#{vm}"))
check "metrics name the instance", metric.elements["entity"].text.strip == vm
check "with cpuUtilization", REXML::XPath.first(metric, "properties/cpuUtilization")

# networks, subnets and interfaces
check "fixture networks", ids(call(:get, "/api/networks"), "network") == %w[net1 net2]
net = call(:post, "/api/networks", payload: { address_block: "172.16.0.0/16", name: "rubynet" })
check "network create answers 200", net.code == 200, "#{net.code} #{net.body}"
net_id = xml(net).attributes["id"]
sub = call(:post, "/api/subnets", payload: { network_id: net_id, address_block: "172.16.1.0/24",
                                             realm_id: "us" })
check "subnet create answers 200", sub.code == 200, "#{sub.code} #{sub.body}"
sub_id = xml(sub).attributes["id"]
nic = call(:post, "/api/network_interfaces", payload: { instance: vm, network: sub_id })
check "interface create answers 200", nic.code == 200, "#{nic.code} #{nic.body}"
nic_id = xml(nic).attributes["id"]
%w[network_interfaces subnets networks].zip([nic_id, sub_id, net_id]).each do |coll, id|
  check "#{coll} destroy answers 204", call(:delete, "/api/#{coll}/#{id}").code == 204
end

# errors in Deltacloud's shape
missing = call(:get, "/api/instances/no-such-instance")
check "a missing instance is 404", missing.code == 404, missing.code
check "with an <error> document", xml(missing).name == "error"

check "instance destroy", [202, 204].include?(call(:delete, "/api/instances/#{vm}").code)
puts "workflow complete: #{$steps} steps"
