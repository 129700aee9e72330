// Reading and writing safetensors with nlohmann/json, defensively: any malformed file is an Error.
#include "runtime/Safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ir/Error.h"

namespace kiln {

int64_t storedDtypeSize(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "BOOL" || dtype == "U8") return 1;
  return 0;
}

namespace {

int64_t readIntField(const nlohmann::json& j, const std::string& what, const std::string& file) {
  if (!j.is_number_integer() || (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(INT64_MAX)) ||
      j.get<int64_t>() < 0)
    throw Error(Location{file, 0, 0}, fmt::format("safetensors: {} must be a non-negative integer", what));
  return j.get<int64_t>();
}

StoredTensor parseEntry(const std::string& name, const nlohmann::json& e, const std::vector<uint8_t>& image,
                        size_t dataStart, std::vector<std::pair<int64_t, int64_t>>& spans, const std::string& file) {
  auto fail = [&](const std::string& m) { return Error(Location{file, 0, 0}, fmt::format("safetensors: tensor \"{}\": {}", name, m)); };
  if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
    throw fail("expected an object with dtype, shape and data_offsets");
  StoredTensor t;
  if (!e["dtype"].is_string()) throw fail("dtype must be a string");
  t.dtype = e["dtype"].get<std::string>();
  int64_t size = storedDtypeSize(t.dtype);
  if (size == 0) throw fail(fmt::format("unknown dtype \"{}\" (kiln reads F32, F64, I32, I64, BOOL, U8)", t.dtype));
  if (!e["shape"].is_array() || e["shape"].size() > 8) throw fail("shape must be an array of at most 8 dimensions");
  int64_t bytes = size;
  for (const auto& d : e["shape"]) {
    int64_t v = readIntField(d, "a dimension of \"" + name + "\"", file);
    t.shape.push_back(v);
    if (__builtin_mul_overflow(bytes, v, &bytes) || bytes > (int64_t(1) << 48)) throw fail("shape is too large");
  }
  const auto& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2) throw fail("data_offsets must be [begin, end]");
  int64_t begin = readIntField(off[0], "data_offsets of \"" + name + "\"", file);
  int64_t end = readIntField(off[1], "data_offsets of \"" + name + "\"", file);
  int64_t avail = int64_t(image.size() - dataStart);
  if (begin > end || end > avail)
    throw fail(fmt::format("data_offsets [{}, {}] lie outside the {} bytes of data", begin, end, avail));
  if (end - begin != bytes)
    throw fail(fmt::format("holds {} bytes but {} {} needs {}", end - begin, t.dtype,
                           nlohmann::json(t.shape).dump(), bytes));
  spans.push_back({begin, end});
  t.bytes.assign(image.begin() + ptrdiff_t(dataStart + size_t(begin)), image.begin() + ptrdiff_t(dataStart + size_t(end)));
  return t;
}

}  // namespace

TensorFile parseSafetensors(const std::vector<uint8_t>& image, const std::string& file, Metadata* metadata) {
  auto fail = [&](const std::string& m) { return Error(Location{file, 0, 0}, "safetensors: " + m); };
  if (image.size() < 8) throw fail(fmt::format("file is truncated: {} bytes, the header length alone needs 8", image.size()));
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | image[size_t(i)];
  if (hlen > image.size() - 8)
    throw fail(fmt::format("header length {} runs past the end of the {}-byte file", hlen, image.size()));
  std::string header(image.begin() + 8, image.begin() + 8 + ptrdiff_t(hlen));
  nlohmann::json h;
  std::set<std::string> names;  // nlohmann keeps the last of duplicate keys; a checkpoint must not have any
  std::string duplicate;
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth > 16) throw fail("header nests deeper than 16 levels");  // a real header nests 3
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    h = nlohmann::json::parse(header, check);
  } catch (const nlohmann::json::parse_error& e) {
    throw fail(fmt::format("header is not valid JSON (byte {})", e.byte));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    throw fail(fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!duplicate.empty()) throw fail(fmt::format("tensor \"{}\" appears twice in the header", duplicate));
  if (!h.is_object()) throw fail("header must be a JSON object");
  TensorFile out;
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (auto& [name, entry] : h.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw fail("__metadata__ must be an object of strings");
      for (auto& [key, value] : entry.items()) {
        if (!value.is_string()) throw fail(fmt::format("__metadata__ \"{}\" must be a string", key));
        if (metadata) (*metadata)[key] = value.get<std::string>();
      }
      continue;
    }
    out[name] = parseEntry(name, entry, image, 8 + size_t(hlen), spans, file);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) throw fail("two tensors' data_offsets overlap");
  return out;
}

TensorFile readSafetensors(const std::string& path, Metadata* metadata) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(Location{path, 0, 0}, "is a directory, not a safetensors file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Location{path, 0, 0}, fmt::format("cannot open file: {}", std::strerror(errno)));
  std::vector<uint8_t> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parseSafetensors(image, path, metadata);
}

std::vector<uint8_t> serializeSafetensors(const TensorFile& tensors, const Metadata& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    h[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + int64_t(t.bytes.size())}}};
    offset += int64_t(t.bytes.size());
  }
  std::string header = h.dump();
  while ((header.size() + 8) % 8 != 0) header += ' ';
  std::vector<uint8_t> out(8);
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& [name, t] : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

namespace {

/// Removes what earlier writes of file `name` in `dir` left when their process was killed mid-write: the
/// temporaries .NAME.tmp-PID-XXXXXX whose process no longer runs (a live writer's is left alone).
void removeStaleTemporaries(const std::filesystem::path& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::string prefix = "." + name + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string file = it->path().filename().string();
    if (file.rfind(prefix, 0) != 0) continue;
    std::string rest = file.substr(prefix.size());
    size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789") != dash) continue;
    long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid <= 0 || ::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code rm;
    if (it->is_regular_file(rm)) fs::remove(it->path(), rm);
  }
}

}  // namespace

void writeFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  namespace fs = std::filesystem;
  fs::path target(path);
  // Only a regular file (or a new path) is replaced: renaming over a device, a FIFO or a directory would
  // destroy it (as root, /dev/full becomes a plain file).
  std::error_code ec;
  fs::file_status st = fs::symlink_status(target, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st))
    throw Error(Location{path, 0, 0}, "refusing to write: it exists and is not a regular file");
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  removeStaleTemporaries(dir, target.filename().string());
  // The writer's PID is in the name, so that a later write can tell a temporary of a killed run.
  std::string tmp = (dir / fmt::format(".{}.tmp-{}-XXXXXX", target.filename().string(), ::getpid())).string();
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw Error(Location{path, 0, 0}, fmt::format("cannot create a temporary file: {}", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(Location{path, 0, 0}, fmt::format("cannot write: {}", std::strerror(err)));
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Location{path, 0, 0}, fmt::format("cannot flush: {}", std::strerror(err)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Location{path, 0, 0}, fmt::format("cannot rename the temporary file into place: {}", std::strerror(err)));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void writeSafetensors(const std::string& path, const TensorFile& tensors, const Metadata& metadata) {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

}  // namespace kiln
