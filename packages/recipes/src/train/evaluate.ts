import { type Module, noGrad, Variable } from "@quant-trim/autograd";
import { batches, checkDataset, type Dataset } from "../data/dataset.js";

/** How many rows of `logits` ([n, classes], row-major) have their largest value at the label. */
export function countCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j]! > logits[i * classes + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** The class count a model's output implies: logits must be [batch, classes]. */
export function classesOf(fn: string, shape: readonly number[]): number {
  if (shape.length !== 2)
    throw new Error(
      `${fn}: the model must return logits of shape [batch, classes], got [${shape.join(", ")}]`,
    );
  return shape[1]!;
}

/** Top-1 accuracy in eval mode, without recording a graph; the model's training mode is restored. */
export function evaluate(model: Module, ds: Dataset, batchSize = 500): number {
  checkDataset("evaluate", ds);
  if (ds.count === 0) throw new Error("evaluate: the dataset is empty");
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  try {
    noGrad(() => {
      for (const batch of batches(ds, batchSize)) {
        const logits = model.call(new Variable(batch.x));
        correct += countCorrect(logits.data.values(), batch.y, classesOf("evaluate", logits.shape));
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return correct / ds.count;
}
