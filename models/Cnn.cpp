// The Fashion-MNIST CNN, the same model as the PyTorch baseline in bench/.
#include "ir/Builder.h"
#include "models/Layers.h"
#include "models/Models.h"

namespace kiln {

Graph buildCnn(int64_t batch) {
  Builder b("cnn");
  Value x = b.input("x", {DType::F32, {batch, 1, 28, 28}});
  Value labels = b.input("labels", {DType::I32, {batch}});
  Conv2dLayer conv1 = makeConv2d(b, "conv1", 1, 32, 5), conv2 = makeConv2d(b, "conv2", 32, 64, 5);
  LinearLayer fc1 = makeLinear(b, "fc1", 1024, 512), fc2 = makeLinear(b, "fc2", 512, 10);
  Value h = maxPool2d(relu(conv1(x)), 2, 2);   // [B, 32, 12, 12]
  h = maxPool2d(relu(conv2(h)), 2, 2);         // [B, 64, 4, 4]
  Value logits = fc2(relu(fc1(reshape(h, {batch, 1024}))));
  b.output("loss", crossEntropy(logits, labels));
  b.output("logits", logits);
  return b.finish();
}

}  // namespace kiln
