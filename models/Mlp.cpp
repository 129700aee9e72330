// The Fashion-MNIST MLP, the same model as the PyTorch baseline in bench/.
#include "ir/Builder.h"
#include "models/Layers.h"
#include "models/Models.h"

namespace kiln {

Graph buildMlp(int64_t batch) {
  Builder b("mlp");
  Value x = b.input("x", {DType::F32, {batch, 784}});
  Value labels = b.input("labels", {DType::I32, {batch}});
  LinearLayer fc1 = makeLinear(b, "fc1", 784, 512), fc2 = makeLinear(b, "fc2", 512, 512),
              fc3 = makeLinear(b, "fc3", 512, 10);
  Value logits = fc3(relu(fc2(relu(fc1(x)))));
  b.output("loss", crossEntropy(logits, labels));
  b.output("logits", logits);
  return b.finish();
}

}  // namespace kiln
